//go:build unix

package keepalive

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The system calls of the Unix family, with the option numbers and units
// of the host's platform (platforms.go).

// setOptions sets c, already validated and rounded, on fd: one setsockopt
// per non-zero field, in the unit of the host's option, plus SO_KEEPALIVE.
// The user timeout goes first because it is the option a socket can refuse
// (Linux Multipath TCP sockets), so a refusal leaves the socket untouched;
// SO_KEEPALIVE goes last, so probing starts with the values in place.
func setOptions(sysfd uintptr, c Config) error {
	if runtime.GOOS == "linux" || runtime.GOOS == "android" {
		return setLinux(int(sysfd), c)
	}
	fd, p := int(sysfd), host()
	if c.UserTimeout > 0 {
		if err := setInt(fd, unix.IPPROTO_TCP, p.userTimeout.num, p.userTimeout.name, units(c.UserTimeout, p.userTimeout.unit)); err != nil {
			return err
		}
	}
	if c.Idle > 0 {
		if err := setInt(fd, unix.IPPROTO_TCP, p.idle.num, p.idle.name, units(c.Idle, p.idle.unit)); err != nil {
			return err
		}
	}
	if c.Interval > 0 {
		if err := setInt(fd, unix.IPPROTO_TCP, p.interval.num, p.interval.name, units(c.Interval, p.interval.unit)); err != nil {
			return err
		}
	}
	if c.Count > 0 {
		if err := setInt(fd, unix.IPPROTO_TCP, p.count.num, p.count.name, c.Count); err != nil {
			return err
		}
	}
	return setInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, "SO_KEEPALIVE", 1)
}

// setLinux is setOptions with Linux's options and units as constants:
// Apply is on the hot path of every connection, and this keeps it within a
// few percent of bare setsockopt calls.
func setLinux(fd int, c Config) error {
	if c.UserTimeout > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, linuxTCPUserTimeout, int(c.UserTimeout/time.Millisecond)); err != nil {
			return setErr("TCP_USER_TIMEOUT", int(c.UserTimeout/time.Millisecond), err)
		}
	}
	if c.Idle > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, linuxTCPKeepIdle, int(c.Idle/time.Second)); err != nil {
			return setErr("TCP_KEEPIDLE", int(c.Idle/time.Second), err)
		}
	}
	if c.Interval > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, linuxTCPKeepIntvl, int(c.Interval/time.Second)); err != nil {
			return setErr("TCP_KEEPINTVL", int(c.Interval/time.Second), err)
		}
	}
	if c.Count > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, linuxTCPKeepCnt, c.Count); err != nil {
			return setErr("TCP_KEEPCNT", c.Count, err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return setErr("SO_KEEPALIVE", 1, err)
	}
	return nil
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

func setErr(name string, v int, err error) error {
	if errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EOPNOTSUPP) {
		hint := "is it a TCP socket?"
		if p := host(); p != nil && p.refusedHint != "" {
			hint = p.refusedHint
		}
		return fmt.Errorf("keepalive: %s cannot be set on this socket (%s): %w: %w",
			name, hint, errors.ErrUnsupported, os.NewSyscallError("setsockopt", err))
	}
	return fmt.Errorf("keepalive: setting %s to %d: %w", name, v, os.NewSyscallError("setsockopt", err))
}

// getOptions reads what the kernel holds on fd. An option never set reads
// as the system value on most systems, so this is what is in effect. With
// checkMultipath, a Linux Multipath TCP socket's values come with
// errMultipath.
func getOptions(sysfd uintptr, checkMultipath bool) (c Config, enabled bool, err error) {
	fd, p := int(sysfd), host()
	if p == nil {
		return Config{}, false, errUnsupported()
	}
	on, err := getInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, "SO_KEEPALIVE")
	if err != nil {
		return Config{}, false, err
	}
	if p.idle.name == "" {
		// No per-socket options (OpenBSD): the system's values apply.
		s, err := readSystem()
		return Config{Idle: s.Idle, Interval: s.Interval, Count: s.Count}, on != 0, err
	}
	// A Multipath TCP socket is reported whatever it lets us read: before
	// Linux 6.10 it refuses the keepalive getsockopts too.
	mp := checkMultipath && multipathFD(sysfd)
	read := func(num int, name string) (int, bool) {
		v, gerr := getInt(fd, unix.IPPROTO_TCP, num, name)
		if gerr != nil && err == nil {
			err = gerr
		}
		return v, gerr == nil
	}
	if v, ok := read(p.idle.num, p.idle.name); ok {
		c.Idle = time.Duration(v) * p.idle.unit
	}
	if v, ok := read(p.interval.num, p.interval.name); ok {
		c.Interval = time.Duration(v) * p.interval.unit
	}
	if v, ok := read(p.count.num, p.count.name); ok {
		c.Count = v
	}
	switch {
	case mp:
		return c, on != 0, errMultipath
	case err != nil:
		return Config{}, false, err
	}
	if p.userTimeout.name != "" {
		v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, p.userTimeout.num)
		switch {
		case err == nil:
			c.UserTimeout = time.Duration(max(v, 0)) * p.userTimeout.unit
		case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOPROTOOPT):
			// The socket has no user timeout: none is in effect.
		default:
			return Config{}, false, fmt.Errorf("keepalive: reading %s: %w", p.userTimeout.name, os.NewSyscallError("getsockopt", err))
		}
	}
	return c, on != 0, nil
}

func getInt(fd, level, opt int, name string) (int, error) {
	v, err := unix.GetsockoptInt(fd, level, opt)
	if err == nil {
		return v, nil
	}
	if errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EOPNOTSUPP) {
		return 0, fmt.Errorf("keepalive: reading %s: %s cannot read it back: %w: %w",
			name, host().name, errors.ErrUnsupported, os.NewSyscallError("getsockopt", err))
	}
	return 0, fmt.Errorf("keepalive: reading %s: %w", name, os.NewSyscallError("getsockopt", err))
}

// pendingError takes fd's pending error (SO_ERROR), 0 if none.
func pendingError(fd uintptr) syscall.Errno {
	v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return 0
	}
	return syscall.Errno(v)
}

// isTCPSocket reports whether fd is an IPv4 or IPv6 stream socket.
func isTCPSocket(sysfd uintptr) bool {
	fd := int(sysfd)
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_STREAM {
		return false
	}
	switch sa, _ := unix.Getsockname(fd); sa.(type) {
	case *unix.SockaddrInet4, *unix.SockaddrInet6:
		return true
	}
	return false
}

// readSystem reads the sysctls the host's platform names.
func readSystem() (System, error) { return host().readSystem(sysctl) }

// osRelease reads what a platform's release field names: uname's version
// field, or a sysctl.
func osRelease(from string) (string, error) {
	if from == "uname -v" {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return "", err
		}
		return unix.ByteSliceToString(u.Version[:]), nil
	}
	v, err := sysctl(from)
	return strconv.Itoa(v), err
}
