//go:build unix

package keepalive

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The system calls of the Unix family, with the option numbers and units
// of the host's platform (platforms.go).

// setOptions sets c, already validated and rounded, on fd, in the order
// settings gives.
func setOptions(sysfd uintptr, c Config) error {
	p, fd := host(), int(sysfd)
	var s [5]setting
	n := p.settings(c, &s)
	for i := range n {
		o := &s[i]
		level, num := unix.IPPROTO_TCP, o.num
		if num == 0 {
			level, num = unix.SOL_SOCKET, unix.SO_KEEPALIVE
		}
		if err := unix.SetsockoptInt(fd, level, num, o.v); err != nil {
			return setErr(p.optName(*o), o.v, err)
		}
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
