//go:build aix || illumos || solaris

package keepalive

import (
	"errors"
	"fmt"
	"runtime"
)

// errNoDefaults reports system defaults that a program cannot read.
func errNoDefaults(where string) error {
	return fmt.Errorf("keepalive: %s keeps its keepalive defaults in %s, which a program cannot read: %w",
		runtime.GOOS, where, errors.ErrUnsupported)
}
