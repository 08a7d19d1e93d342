package keepalive

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Linux ranges from net/ipv4/tcp.c: MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL
// (32767 s), MAX_TCP_KEEPCNT (127); TCP_USER_TIMEOUT takes a non-negative int
// of milliseconds.
var osLimits = limits{
	idleMin: time.Second, idleMax: 32767 * time.Second, durUnit: time.Second,
	countMax:       127,
	userTimeoutMax: math.MaxInt32 * time.Millisecond, userTimeoutUnit: time.Millisecond,
	idleOpt: "TCP_KEEPIDLE", intvlOpt: "TCP_KEEPINTVL", countOpt: "TCP_KEEPCNT", userTimeoOpt: "TCP_USER_TIMEOUT",
}

// setOptions sets c, already validated and rounded, on fd: one setsockopt
// per non-zero field plus SO_KEEPALIVE. TCP_USER_TIMEOUT goes first because
// it is the one option a TCP socket can refuse (MPTCP sockets do), so a
// refusal leaves the socket untouched; SO_KEEPALIVE goes last, so probing
// starts with the values in place.
func setOptions(sysfd uintptr, c Config) error {
	fd := int(sysfd)
	if c.UserTimeout > 0 {
		ms := int(c.UserTimeout / time.Millisecond)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, ms); err != nil {
			return setErr("TCP_USER_TIMEOUT", ms, err)
		}
	}
	if c.Idle > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(c.Idle/time.Second)); err != nil {
			return setErr("TCP_KEEPIDLE", int(c.Idle/time.Second), err)
		}
	}
	if c.Interval > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(c.Interval/time.Second)); err != nil {
			return setErr("TCP_KEEPINTVL", int(c.Interval/time.Second), err)
		}
	}
	if c.Count > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, c.Count); err != nil {
			return setErr("TCP_KEEPCNT", c.Count, err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return setErr("SO_KEEPALIVE", 1, err)
	}
	return nil
}

func setErr(opt string, v int, err error) error {
	if errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EOPNOTSUPP) {
		// Multipath TCP sockets refuse TCP_USER_TIMEOUT, and on older
		// kernels the keepalive options too.
		return fmt.Errorf("keepalive: %s cannot be set on this socket (is it Multipath TCP? use plain TCP, or leave the field zero): %w: %w",
			opt, errors.ErrUnsupported, os.NewSyscallError("setsockopt", err))
	}
	return fmt.Errorf("keepalive: setting %s to %d: %w", opt, v, os.NewSyscallError("setsockopt", err))
}

// getOptions reads what the kernel holds on fd. An option never set reads
// as the network namespace's sysctl value, so this is what is in effect.
func getOptions(sysfd uintptr) (c Config, enabled bool, err error) {
	fd := int(sysfd)
	get := func(level, opt int, name string) int {
		if err != nil {
			return 0
		}
		var v int
		v, err = unix.GetsockoptInt(fd, level, opt)
		if err != nil {
			err = fmt.Errorf("keepalive: reading %s: %w", name, os.NewSyscallError("getsockopt", err))
		}
		return v
	}
	on := get(unix.SOL_SOCKET, unix.SO_KEEPALIVE, "SO_KEEPALIVE")
	c.Idle = time.Duration(get(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, "TCP_KEEPIDLE")) * time.Second
	c.Interval = time.Duration(get(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, "TCP_KEEPINTVL")) * time.Second
	c.Count = get(unix.IPPROTO_TCP, unix.TCP_KEEPCNT, "TCP_KEEPCNT")
	if err != nil {
		return Config{}, false, err
	}
	ut, uerr := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	switch {
	case uerr == nil:
		c.UserTimeout = time.Duration(ut) * time.Millisecond
	case errors.Is(uerr, unix.EOPNOTSUPP) || errors.Is(uerr, unix.ENOPROTOOPT):
		// A Multipath TCP socket has no user timeout: none is in effect.
	default:
		return Config{}, false, fmt.Errorf("keepalive: reading TCP_USER_TIMEOUT: %w", os.NewSyscallError("getsockopt", uerr))
	}
	return c, on != 0, nil
}

// SystemDefaults returns the keepalive values a socket gets when it sets
// none: on Linux the sysctls net.ipv4.tcp_keepalive_time, _intvl and _probes
// of the caller's network namespace (compiled-in defaults 7200 s, 75 s, 9).
// UserTimeout is always zero: the kernel has no default for it.
func SystemDefaults() (Config, error) {
	idle, err := readSysctl("net/ipv4/tcp_keepalive_time")
	if err != nil {
		return Config{}, err
	}
	intvl, err := readSysctl("net/ipv4/tcp_keepalive_intvl")
	if err != nil {
		return Config{}, err
	}
	cnt, err := readSysctl("net/ipv4/tcp_keepalive_probes")
	if err != nil {
		return Config{}, err
	}
	return Config{Idle: time.Duration(idle) * time.Second, Interval: time.Duration(intvl) * time.Second, Count: cnt}, nil
}

// SystemRetransmission returns the retransmission settings of the caller's
// network namespace: net.ipv4.tcp_retries2 and net.ipv4.tcp_rto_max_ms
// (Linux 6.15+; 120 s where it does not exist).
func SystemRetransmission() (Retransmission, error) {
	n, err := readSysctl("net/ipv4/tcp_retries2")
	if err != nil {
		return Retransmission{}, err
	}
	r := Retransmission{Retries2: n, RTOMax: 120 * time.Second}
	if ms, err := readSysctl("net/ipv4/tcp_rto_max_ms"); err == nil {
		r.RTOMax = time.Duration(ms) * time.Millisecond
	} else if !errors.Is(err, os.ErrNotExist) {
		return Retransmission{}, err
	}
	return r, nil
}

func readSysctl(name string) (int, error) {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return 0, fmt.Errorf("keepalive: reading sysctl %s: %w", strings.ReplaceAll(name, "/", "."), err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("keepalive: sysctl %s: %w", strings.ReplaceAll(name, "/", "."), err)
	}
	return v, nil
}
