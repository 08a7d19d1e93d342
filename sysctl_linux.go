package keepalive

import (
	"os"
	"strconv"
	"strings"
)

// sysctl reads an integer sysctl from /proc/sys, where Linux keeps them
// (those of the caller's network namespace).
func sysctl(name string) (int, error) {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
