//go:build aix || hurd || solaris

package keepalive

import (
	"errors"
	"fmt"
	"runtime"
)

// sysctl: AIX, Hurd, illumos and Solaris have neither /proc/sys nor sysctl(3),
// and their platforms name no sysctl.
func sysctl(name string) (int, error) {
	return 0, fmt.Errorf("keepalive: reading %s: %s has no sysctl: %w", name, runtime.GOOS, errors.ErrUnsupported)
}
