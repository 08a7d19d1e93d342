//go:build aix || darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || solaris

package keepalive

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// tcpOpts are the option numbers, at level IPPROTO_TCP, behind Idle,
// Interval, Count and UserTimeout on this OS; -1 where it has none. Each
// per-OS file sets sockopts.
type tcpOpts struct{ idle, interval, count, userTimeout int }

func setErr(name string, v int, err error) error {
	if errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("keepalive: %s cannot be set on this socket (%s): %w: %w",
			name, refusedHint, errors.ErrUnsupported, os.NewSyscallError("setsockopt", err))
	}
	return fmt.Errorf("keepalive: setting %s to %d: %w", name, v, os.NewSyscallError("setsockopt", err))
}

// getOptions reads what the kernel holds on fd. An option never set reads
// as the system value on most systems, so this is what is in effect.
func getOptions(sysfd uintptr) (c Config, enabled bool, err error) {
	fd, p := int(sysfd), host()
	on, err := getInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, "SO_KEEPALIVE")
	if err != nil {
		return Config{}, false, err
	}
	if sockopts.idle < 0 {
		// No per-socket options (OpenBSD): the system's values apply.
		s, err := readSystem()
		return Config{Idle: s.Idle, Interval: s.Interval, Count: s.Count}, on != 0, err
	}
	var v int
	if v, err = getInt(fd, unix.IPPROTO_TCP, sockopts.idle, p.idle.name); err != nil {
		return Config{}, false, err
	}
	c.Idle = time.Duration(v) * p.idle.unit
	if v, err = getInt(fd, unix.IPPROTO_TCP, sockopts.interval, p.interval.name); err != nil {
		return Config{}, false, err
	}
	c.Interval = time.Duration(v) * p.interval.unit
	if c.Count, err = getInt(fd, unix.IPPROTO_TCP, sockopts.count, p.count.name); err != nil {
		return Config{}, false, err
	}
	if sockopts.userTimeout >= 0 {
		v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, sockopts.userTimeout)
		switch {
		case err == nil:
			c.UserTimeout = time.Duration(max(v, 0)) * p.userTimeout.unit
		case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOPROTOOPT):
			// The socket has no user timeout (a Linux Multipath TCP
			// socket, FreeBSD before 14): none is in effect.
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
