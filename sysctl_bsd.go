//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package keepalive

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// sysctlDefaults reads the keepalive defaults of a BSD kernel:
// net.inet.tcp.keepidle and keepintvl, which count unit each, and
// net.inet.tcp.keepcnt, or the fixed count where the kernel has none.
func sysctlDefaults(unit time.Duration, fixedCount int) (System, error) {
	get := func(name string) (int, error) {
		v, err := unix.SysctlUint32(name)
		if err != nil {
			return 0, fmt.Errorf("keepalive: reading sysctl %s: %w", name, err)
		}
		return int(v), nil
	}
	idle, err := get("net.inet.tcp.keepidle")
	if err != nil {
		return System{}, err
	}
	intvl, err := get("net.inet.tcp.keepintvl")
	if err != nil {
		return System{}, err
	}
	count := fixedCount
	if count == 0 {
		if count, err = get("net.inet.tcp.keepcnt"); err != nil {
			return System{}, err
		}
	}
	return System{Idle: time.Duration(idle) * unit, Interval: time.Duration(intvl) * unit, Count: count}, nil
}
