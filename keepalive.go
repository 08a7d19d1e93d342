package keepalive

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Config says how fast a dead peer is detected on a TCP connection.
//
// A zero field means the system's value (see ReadSystem), so Config{} only
// turns keepalive on; a zero UserTimeout means none (Apply and WrapListener
// leave one that something else set). Negative values are
// invalid. Each OS counts durations in its own unit and range; Validate
// checks them, and Rounded shows what the kernel will hold. docs/platforms.md
// names the option behind each field on every OS.
type Config struct {
	// Idle is how long the connection must receive nothing before the
	// first keepalive probe (TCP_KEEPIDLE; TCP_KEEPALIVE on macOS).
	Idle time.Duration
	// Interval is the time between unanswered probes (TCP_KEEPINTVL).
	Interval time.Duration
	// Count is how many unanswered probes declare the peer dead
	// (TCP_KEEPCNT). Linux ignores it while UserTimeout is set.
	Count int
	// UserTimeout is how long sent data may stay unacknowledged before the
	// connection is dropped (TCP_USER_TIMEOUT; macOS TCP_RXT_CONNDROPTIME,
	// FreeBSD TCP_MAXUNACKTIME, illumos TCP_ABORT_THRESHOLD, Windows
	// TCP_MAXRT). On Linux it also ends keepalive probing, and a connection
	// whose peer, alive, keeps its receive window closed that long: a slow
	// or hung reader.
	UserTimeout time.Duration
}

var (
	// ErrDisabled is reported by Inspect for a connection whose SO_KEEPALIVE
	// is off: the kernel will never probe it, whatever the other values say.
	ErrDisabled = errors.New("keepalive: SO_KEEPALIVE is off on this connection")

	// ErrNotTCP is reported by Apply and Inspect for a connection that is not
	// a TCP connection (UDP, unix sockets, pipes).
	ErrNotTCP = errors.New("keepalive: not a TCP connection")

	// ErrMultipathTCP is reported by Apply, Control and Inspect for a Linux
	// Multipath TCP socket: its keepalive and user timeout act on its
	// subflows, it refuses TCP_USER_TIMEOUT (before Linux 6.10 the
	// keepalive options too), and it outlives a dead peer by
	// net.mptcp.close_timeout (60 s by default), so no Config bounds its
	// detection. Dial, Dialer, Listen and WrapListener use plain TCP
	// instead (docs/platforms.md).
	ErrMultipathTCP = errors.New("keepalive: a Multipath TCP socket")
)

// errMultipath says what to do instead.
var errMultipath = fmt.Errorf("%w: keepalive reaches only its subflows, and it outlives a dead peer by net.mptcp.close_timeout (60 s by default); use plain TCP: SetMultipathTCP(false) on the net.Dialer or net.ListenConfig, or Config.Dial, Dialer or Listen: %w",
	ErrMultipathTCP, errors.ErrUnsupported)

// Validate reports whether c can be set on this OS: each field
// non-negative, settable here if non-zero, and inside the kernel's range
// once rounded up to its unit. The error names the field, the value and the
// range, and wraps syscall.EINVAL, or errors.ErrUnsupported for a field
// this OS cannot set per connection (OpenBSD's Idle, say) and on an OS
// without keepalive options (js, wasip1, plan9).
func (c Config) Validate() error { return host().validate(c) }

// roundUp rounds d up to a whole multiple of unit: the kernel must never
// probe sooner than asked. It saturates instead of overflowing.
func roundUp(d, unit time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	_, r := divUnit(d, unit)
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

// Rounded returns c as the kernel will hold it: each duration rounded up
// to its option's unit on this OS (on Linux whole seconds, and
// milliseconds for UserTimeout).
func (c Config) Rounded() Config { return host().rounded(c) }

// FromNetConfig converts a net.KeepAliveConfig, whose zero fields mean Go's
// defaults (15 s, 15 s, 9) and negative ones the system's, to a Config. ok
// is false if k.Enable is false.
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
// values. ok is false if c.UserTimeout is set, which it cannot hold.
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
