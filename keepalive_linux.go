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

// readSystem reads the sysctls of the caller's network namespace:
// net.ipv4.tcp_keepalive_time, _intvl, _probes, tcp_retries2, and
// tcp_rto_max_ms (Linux 6.15+; 120 s where it does not exist).
func readSystem() (System, error) {
	var s System
	for _, v := range []struct {
		name string
		unit time.Duration
		dur  *time.Duration
		n    *int
	}{
		{"net/ipv4/tcp_keepalive_time", time.Second, &s.Idle, nil},
		{"net/ipv4/tcp_keepalive_intvl", time.Second, &s.Interval, nil},
		{"net/ipv4/tcp_keepalive_probes", 0, nil, &s.Count},
		{"net/ipv4/tcp_retries2", 0, nil, &s.Retries2},
		{"net/ipv4/tcp_rto_max_ms", time.Millisecond, &s.RTOMax, nil},
	} {
		n, err := readSysctl(v.name)
		switch {
		case errors.Is(err, os.ErrNotExist) && v.name == "net/ipv4/tcp_rto_max_ms":
			s.RTOMax = 120 * time.Second
			continue
		case err != nil:
			return System{}, err
		}
		if v.dur != nil {
			*v.dur = time.Duration(n) * v.unit
		} else {
			*v.n = n
		}
	}
	return s, nil
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
