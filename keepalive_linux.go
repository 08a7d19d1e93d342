package keepalive

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

var sockopts = tcpOpts{unix.TCP_KEEPIDLE, unix.TCP_KEEPINTVL, unix.TCP_KEEPCNT, unix.TCP_USER_TIMEOUT}

// Multipath TCP sockets refuse TCP_USER_TIMEOUT, and on older kernels the
// keepalive options too.
const refusedHint = "is it Multipath TCP? use plain TCP, or leave the field zero"

// setOptions is the generic Unix one (setoptions_unix.go) with Linux's
// options and units as constants: Apply is on the hot path of every
// connection, and this keeps it within a few percent of bare setsockopt
// calls. TCP_USER_TIMEOUT goes first because Multipath TCP sockets refuse
// it, so a refusal leaves the socket untouched; SO_KEEPALIVE goes last.
func setOptions(sysfd uintptr, c Config) error {
	fd := int(sysfd)
	if c.UserTimeout > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(c.UserTimeout/time.Millisecond)); err != nil {
			return setErr("TCP_USER_TIMEOUT", int(c.UserTimeout/time.Millisecond), err)
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
