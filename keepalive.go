package keepalive

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Config says how fast a dead peer is detected on a TCP connection.
//
// A zero field leaves the operating system's value for that option in place,
// so Config{} only turns keepalive on, with the system's settings. Negative
// values are invalid. See the package documentation for the option each field
// sets and the unit the kernel counts it in.
type Config struct {
	// Idle is how long the connection must be idle (nothing received) before
	// the first keepalive probe is sent. Linux, FreeBSD, DragonFly, illumos,
	// Solaris, AIX, Windows: TCP_KEEPIDLE; macOS, iOS: TCP_KEEPALIVE; whole
	// seconds, rounded up (NetBSD: half seconds; Windows before 10 1709:
	// SIO_KEEPALIVE_VALS, milliseconds). OpenBSD cannot set it per
	// connection.
	Idle time.Duration
	// Interval is the time between unanswered probes: TCP_KEEPINTVL, in the
	// same unit as Idle (SIO_KEEPALIVE_VALS on old Windows). OpenBSD cannot
	// set it per connection.
	Interval time.Duration
	// Count is how many unanswered probes declare the peer dead:
	// TCP_KEEPCNT. While UserTimeout is set, Linux ignores Count (see
	// DetectionTime). OpenBSD (8) and Windows before 10 1709 (10) have a
	// fixed count and refuse a non-zero one.
	Count int
	// UserTimeout is how long sent data may stay unacknowledged before the
	// connection is dropped. Linux: TCP_USER_TIMEOUT, milliseconds, which
	// also caps keepalive probing; macOS, iOS: TCP_RXT_CONNDROPTIME,
	// seconds; FreeBSD 14+: TCP_MAXUNACKTIME, seconds; illumos, Solaris:
	// TCP_ABORT_THRESHOLD, milliseconds; Windows: TCP_MAXRT, seconds; all
	// rounded up. NetBSD, DragonFly, OpenBSD and AIX have no such option and
	// refuse a non-zero one. Zero leaves it off (the systems have no
	// per-connection default for it).
	UserTimeout time.Duration
}

var (
	// ErrDisabled is reported by Inspect for a connection whose SO_KEEPALIVE
	// is off: the kernel will never probe it, whatever the other values say.
	// (FreeBSD and DragonFly probe every connection anyway while the sysctl
	// net.inet.tcp.always_keepalive is 1, FreeBSD's default.)
	ErrDisabled = errors.New("keepalive: SO_KEEPALIVE is off on this connection")

	// ErrNotTCP is reported by Apply and Inspect for a connection that is not
	// a TCP connection (UDP, unix sockets, pipes).
	ErrNotTCP = errors.New("keepalive: not a TCP connection")
)

// Validate reports whether c can be applied on this operating system: every
// field non-negative, settable here if non-zero, and, after rounding up to
// the unit the kernel counts in, inside the range the kernel accepts (see
// the package documentation's platform table). The error names the field,
// the value and the range, and wraps syscall.EINVAL; a field this OS cannot
// set per connection (OpenBSD's Idle, say) wraps errors.ErrUnsupported. On
// an operating system without TCP keepalive options (js, wasip1, plan9) it
// returns an error wrapping errors.ErrUnsupported that names the OS.
func (c Config) Validate() error { return host.validate(c) }

// roundUp rounds d up to a whole multiple of unit: the kernel must never
// probe sooner than asked. It saturates instead of overflowing.
func roundUp(d, unit time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	r := d % unit
	if r == 0 {
		return d
	}
	if d > maxDuration-unit {
		return maxDuration
	}
	return d + unit - r
}

// fmtLimit prints a limit in the kernel's unit: "32767s", not "9h6m7s".
func fmtLimit(d, unit time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case unit == time.Second:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

func unitName(unit time.Duration) string {
	switch unit {
	case time.Second:
		return "whole seconds"
	case time.Millisecond:
		return "whole milliseconds"
	}
	return "multiples of " + unit.String()
}

const maxDuration = time.Duration(1<<63 - 1)

// Rounded returns c as the kernel will hold it: each duration rounded up to
// the unit of its option on this OS (whole seconds for Idle and Interval on
// most systems, half seconds on NetBSD, milliseconds on DragonFly before 5.8
// and for SIO_KEEPALIVE_VALS on old Windows; UserTimeout to milliseconds on
// Linux and illumos, seconds on macOS, FreeBSD and Windows). Zero fields stay
// zero.
func (c Config) Rounded() Config { return host.rounded(c) }

// WithDefaults returns c with every zero field taken from d. UserTimeout is
// taken from d too, though a zero UserTimeout is itself a valid setting (off).
func (c Config) WithDefaults(d Config) Config {
	if c.Idle == 0 {
		c.Idle = d.Idle
	}
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.Count == 0 {
		c.Count = d.Count
	}
	if c.UserTimeout == 0 {
		c.UserTimeout = d.UserTimeout
	}
	return c
}

// FromNetConfig converts a net.KeepAliveConfig to a Config. The conventions
// differ: in net.KeepAliveConfig a zero field means Go's default (15 s idle,
// 15 s interval, 9 probes) and a negative field means the system value; in
// Config zero means the system value. So zero becomes Go's default, negative
// becomes zero, and a config with Enable false yields ok == false.
func FromNetConfig(k net.KeepAliveConfig) (c Config, ok bool) {
	pick := func(v, goDefault time.Duration) time.Duration {
		switch {
		case v == 0:
			return goDefault
		case v < 0:
			return 0
		}
		return v
	}
	c.Idle = pick(k.Idle, 15*time.Second)
	c.Interval = pick(k.Interval, 15*time.Second)
	c.Count = int(pick(time.Duration(k.Count), 9))
	return c, k.Enable
}

// NetConfig converts c to the net.KeepAliveConfig that sets the same
// keepalive values: zero fields become -1 (the system value). UserTimeout
// has no counterpart in net.KeepAliveConfig and is dropped, so ok is false
// when c.UserTimeout is set.
func (c Config) NetConfig() (k net.KeepAliveConfig, ok bool) {
	orSystem := func(v time.Duration) time.Duration {
		if v == 0 {
			return -1
		}
		return v
	}
	k.Enable = true
	k.Idle = orSystem(c.Idle)
	k.Interval = orSystem(c.Interval)
	k.Count = int(orSystem(time.Duration(c.Count)))
	return k, c.UserTimeout == 0
}
