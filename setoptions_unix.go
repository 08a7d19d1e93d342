//go:build aix || darwin || dragonfly || freebsd || illumos || netbsd || openbsd || solaris

package keepalive

import (
	"time"

	"golang.org/x/sys/unix"
)

// setOptions sets c, already validated and rounded, on fd: one setsockopt
// per non-zero field, in the unit of the host's option, plus SO_KEEPALIVE.
// (Linux has its own, with constant options and units: keepalive_linux.go.)
// The user timeout goes first because it is the option a socket can refuse
// (Linux Multipath TCP sockets, FreeBSD before 14), so a refusal leaves the
// socket untouched; SO_KEEPALIVE goes last, so probing starts with the
// values in place.
func setOptions(sysfd uintptr, c Config) error {
	fd, p := int(sysfd), host()
	if c.UserTimeout > 0 {
		if err := setInt(fd, unix.IPPROTO_TCP, sockopts.userTimeout, p.userTimeout.name, units(c.UserTimeout, p.userTimeout.unit)); err != nil {
			return err
		}
	}
	if c.Idle > 0 {
		if err := setInt(fd, unix.IPPROTO_TCP, sockopts.idle, p.idle.name, units(c.Idle, p.idle.unit)); err != nil {
			return err
		}
	}
	if c.Interval > 0 {
		if err := setInt(fd, unix.IPPROTO_TCP, sockopts.interval, p.interval.name, units(c.Interval, p.interval.unit)); err != nil {
			return err
		}
	}
	if c.Count > 0 {
		if err := setInt(fd, unix.IPPROTO_TCP, sockopts.count, p.count.name, c.Count); err != nil {
			return err
		}
	}
	return setInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, "SO_KEEPALIVE", 1)
}

// units is d in the kernel's unit; the common units are constants, which
// the compiler divides by without a division instruction.
func units(d, unit time.Duration) int {
	switch unit {
	case time.Second:
		return int(d / time.Second)
	case time.Millisecond:
		return int(d / time.Millisecond)
	}
	return int(d / unit)
}

func setInt(fd, level, opt int, name string, v int) error {
	if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
		return setErr(name, v, err)
	}
	return nil
}
