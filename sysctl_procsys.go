//go:build unix && !(darwin || dragonfly || freebsd || netbsd || openbsd)

package keepalive

import (
	"os"
	"strconv"
	"strings"
)

// sysctl reads an integer sysctl from /proc/sys, where Linux keeps them
// (those of the caller's network namespace). The other Unix systems here
// have neither /proc/sys nor sysctl(3), and their platforms name no sysctl.
func sysctl(name string) (int, error) {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
