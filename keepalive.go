package keepalive

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"
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
	// the first keepalive probe is sent. Linux: TCP_KEEPIDLE, whole seconds,
	// rounded up.
	Idle time.Duration
	// Interval is the time between unanswered probes. Linux: TCP_KEEPINTVL,
	// whole seconds, rounded up.
	Interval time.Duration
	// Count is how many unanswered probes declare the peer dead. Linux:
	// TCP_KEEPCNT. While UserTimeout is set, Linux ignores Count (see
	// DetectionTime).
	Count int
	// UserTimeout is how long sent data may stay unacknowledged before the
	// connection is dropped; it also caps keepalive probing. Linux:
	// TCP_USER_TIMEOUT, milliseconds, rounded up. Zero leaves it off (the
	// kernel has no system-wide default for it).
	UserTimeout time.Duration
}

var (
	// ErrDisabled is reported by Inspect for a connection whose SO_KEEPALIVE
	// is off: the kernel will never probe it, whatever the other values say.
	ErrDisabled = errors.New("keepalive: SO_KEEPALIVE is off on this connection")

	// ErrNotTCP is reported by Apply and Inspect for a connection that is not
	// a TCP connection (UDP, unix sockets, pipes).
	ErrNotTCP = errors.New("keepalive: not a TCP connection")
)

// limits are what one operating system accepts for each field.
type limits struct {
	idleMin, idleMax       time.Duration // also Interval's range
	durUnit                time.Duration // Idle and Interval are rounded up to this
	countMax               int
	userTimeoutMax         time.Duration
	userTimeoutUnit        time.Duration
	idleOpt, intvlOpt      string
	countOpt, userTimeoOpt string
}

// supported reports whether this OS has limits, that is, an implementation.
func (l *limits) supported() bool { return l.idleMax != 0 }

// Validate reports whether c can be applied on this operating system: every
// field non-negative and, after rounding up to the unit the kernel counts in,
// inside the range the kernel accepts. The error names the field, the value
// and the range, and wraps syscall.EINVAL. On an operating system this
// package does not support yet, it returns an error wrapping
// errors.ErrUnsupported.
func (c Config) Validate() error {
	l := &osLimits
	if !l.supported() {
		return errUnsupported()
	}
	if err := checkDuration("Idle", l.idleOpt, c.Idle, l.idleMin, l.idleMax, l.durUnit); err != nil {
		return err
	}
	if err := checkDuration("Interval", l.intvlOpt, c.Interval, l.idleMin, l.idleMax, l.durUnit); err != nil {
		return err
	}
	if c.Count < 0 || c.Count > l.countMax {
		return fmt.Errorf("keepalive: invalid Config: Count %d outside 1..%d (%s); 0 keeps the system value: %w",
			c.Count, l.countMax, l.countOpt, syscall.EINVAL)
	}
	if c.UserTimeout < 0 || roundUp(c.UserTimeout, l.userTimeoutUnit) > l.userTimeoutMax {
		return fmt.Errorf("keepalive: invalid Config: UserTimeout %v outside 0..%v (%s counts %s, rounded up); 0 leaves it off: %w",
			c.UserTimeout, l.userTimeoutMax, l.userTimeoOpt, unitName(l.userTimeoutUnit), syscall.EINVAL)
	}
	return nil
}

func checkDuration(field, opt string, d, lo, hi, unit time.Duration) error {
	if d == 0 {
		return nil
	}
	if r := roundUp(d, unit); d < 0 || r < lo || r > hi {
		return fmt.Errorf("keepalive: invalid Config: %s %v outside %s..%s (%s counts %s, rounded up); 0 keeps the system value: %w",
			field, d, fmtLimit(lo, unit), fmtLimit(hi, unit), opt, unitName(unit), syscall.EINVAL)
	}
	return nil
}

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
	if unit == time.Second {
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

// Rounded returns c as the kernel will hold it: Idle and Interval rounded up
// to whole seconds and UserTimeout to whole milliseconds on Linux. Zero
// fields stay zero.
func (c Config) Rounded() Config {
	l := &osLimits
	if !l.supported() {
		return c
	}
	c.Idle = roundUp(c.Idle, l.durUnit)
	c.Interval = roundUp(c.Interval, l.durUnit)
	c.UserTimeout = roundUp(c.UserTimeout, l.userTimeoutUnit)
	return c
}

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

func errUnsupported() error {
	return fmt.Errorf("keepalive: setting TCP keepalive options is not supported on %s yet: %w",
		runtime.GOOS, errors.ErrUnsupported)
}

// Detection-time model (Linux, net/ipv4/tcp_timer.c). See the package
// documentation, "# Detection time", for the derivation and measurements.

// linuxDefaults are the kernel's compiled-in values, used by the model when
// the system's own cannot be read.
var linuxDefaults = Config{Idle: 7200 * time.Second, Interval: 75 * time.Second, Count: 9}

// modelConfig is c as the kernel will hold it, zero fields filled from the
// system defaults in effect (or the compiled-in Linux defaults if those
// cannot be read). It reads the system only when a field is zero.
func (c Config) modelConfig() Config {
	c = c.Rounded()
	if c.Idle == 0 || c.Interval == 0 || c.Count == 0 {
		d, err := SystemDefaults()
		if err != nil {
			d = linuxDefaults
		}
		c = c.WithDefaults(d)
	}
	return c
}

// probes returns how many keepalive probes go out before the connection is
// dropped: Count, or with UserTimeout set, k = max(1, ceil((UserTimeout -
// Idle) / Interval)), since the kernel then ignores Count and checks the user
// timeout only when a probe timer fires, after at least one probe.
func (c Config) probes() int64 {
	if c.UserTimeout <= 0 {
		return int64(c.Count)
	}
	rest := c.UserTimeout - c.Idle
	if rest <= 0 || c.Interval <= 0 {
		return 1
	}
	return max(1, int64((rest+c.Interval-1)/c.Interval))
}

// DetectionTime is the model time from the last segment received from a dead
// peer to the connection failing (a blocked Read returns ETIMEDOUT), on an
// idle connection, with the kernel's timers on time:
//
//	UserTimeout zero: Idle + Count*Interval
//	UserTimeout set:  Idle + k*Interval, k = max(1, ceil((UserTimeout-Idle)/Interval))
//
// using the values as the kernel holds them (rounded up, see Rounded). Zero
// Idle, Interval and Count count as the system's values, read from
// SystemDefaults when the method is called (Linux compiled-in defaults 7200 s,
// 75 s, 9 if they cannot be read); a zero UserTimeout is off. Call
// c.WithDefaults(d).DetectionTime() to compute it for other defaults d without
// reading the system.
//
// The kernel's timers fire late, never early, so the connection fails
// between EarliestDetectionTime and WorstCaseDetectionTime. The two ends
// differ from DetectionTime only by timer slack, except in one case: with
// UserTimeout set just above a probe time, a late timer can find the user
// timeout spent one probe earlier. Setting UserTimeout to exactly
// Idle + Count*Interval (as Within does) avoids that.
func (c Config) DetectionTime() time.Duration {
	m := c.modelConfig()
	return m.Idle + time.Duration(m.probes())*m.Interval
}

// EarliestDetectionTime is the soonest an idle connection with a dead peer
// can fail: DetectionTime, unless UserTimeout is set and the timer slack
// accumulated by an earlier probe timer j can reach UserTimeout, in which
// case max(UserTimeout, Idle + j*Interval) (the kernel checks the user
// timeout whenever a probe timer fires, after the first probe). The kernel
// counts in ticks from a receive time rounded down to a tick, so the failure
// can come up to one tick (at most 10 ms) sooner still.
func (c Config) EarliestDetectionTime() time.Duration {
	m := c.modelConfig()
	k := m.probes()
	onTime := m.Idle + time.Duration(k)*m.Interval
	if m.UserTimeout <= 0 || k < 2 {
		return onTime
	}
	// The first j >= 1 whose timer, as late as it can be, sees UserTimeout
	// spent: Idle + slack(Idle) + j*(Interval + slack(Interval)) >= UserTimeout.
	first, step := m.Idle+timerSlack(m.Idle), m.Interval+timerSlack(m.Interval)
	j := int64(1)
	if rest := m.UserTimeout - first; rest > step {
		j = int64((rest + step - 1) / step)
	}
	if j >= k {
		return onTime
	}
	return max(m.UserTimeout, m.Idle+time.Duration(j)*m.Interval)
}

// WorstCaseDetectionTime is DetectionTime plus the most the kernel's timer
// wheel can delay each keepalive timer (the idle timer and one per probe):
// a timer armed d ahead is rounded up to its wheel level's granularity,
// at most 8/63 of d, plus a tick (10 ms at the lowest HZ, 100): 137 ms for a
// 1 s timer, 2.55 s for a 20 s one. That holds for any HZ; the real rounding
// is 64 ms for a 1 s timer at HZ 1000, and 2.05 s for a 20 s timer at HZ
// 250. A dead idle peer is detected within this time.
func (c Config) WorstCaseDetectionTime() time.Duration {
	m := c.modelConfig()
	n := m.probes()
	return m.Idle + timerSlack(m.Idle) + time.Duration(n)*(m.Interval+timerSlack(m.Interval))
}

// InFlightDetectionTime bounds the time to detect a dead peer while sent
// data is unacknowledged (keepalive does not probe then). It is measured from
// the first retransmission, which comes one retransmission timeout (at least
// 200 ms, more on a slow path) after the write.
//
// With UserTimeout set the connection fails UserTimeout after the first
// retransmission: lo is UserTimeout, hi adds the timer slack. Without it,
// the kernel's tcp_retries2 budget applies (see Retransmission.Timeout), read
// from the system when the method is called; that is 924.6 s up to about
// 1060 s with the Linux defaults.
func (c Config) InFlightDetectionTime() (lo, hi time.Duration) {
	ut := c.Rounded().UserTimeout
	if ut > 0 {
		return ut, ut + timerSlack(ut)
	}
	r, err := SystemRetransmission()
	if err != nil {
		r = Retransmission{Retries2: 15, RTOMax: 120 * time.Second}
	}
	return r.Timeout()
}

// Retransmission holds the kernel settings that bound detection while data
// is in flight and no UserTimeout is set.
type Retransmission struct {
	Retries2 int           // net.ipv4.tcp_retries2
	RTOMax   time.Duration // net.ipv4.tcp_rto_max_ms; 120 s on kernels without it
}

// rtoMin is TCP_RTO_MIN, the base of the kernel's tcp_model_timeout.
const rtoMin = 200 * time.Millisecond

// Timeout returns the window in which a connection with unacknowledged data
// and no UserTimeout fails, measured from the first retransmission. The
// kernel's budget (tcp_model_timeout) is, with thresh = ilog2(RTOMax/200ms)
// (9 for 120 s):
//
//	Retries2 <= thresh: (2^(Retries2+1) - 1) * 200 ms
//	Retries2 >  thresh: (2^(thresh+1) - 1) * 200 ms + (Retries2 - thresh) * RTOMax
//
// It is checked only when a retransmission timer fires, so the failure lands
// between the budget and the budget plus one RTOMax and that timer's slack.
func (r Retransmission) Timeout() (lo, hi time.Duration) {
	rtoMax := r.RTOMax
	if rtoMax <= 0 {
		rtoMax = 120 * time.Second
	}
	thresh := 0
	for thresh < 40 && rtoMin<<(thresh+1) <= rtoMax {
		thresh++
	}
	n := min(max(r.Retries2, 0), 255) // the kernel keeps it in a u8
	if n <= thresh {
		lo = (time.Duration(1)<<(n+1) - 1) * rtoMin
	} else {
		lo = (time.Duration(1)<<(thresh+1)-1)*rtoMin + time.Duration(n-thresh)*rtoMax // n <= 255: no overflow below 400 days of RTOMax
	}
	return lo, satAdd(lo, satAdd(rtoMax, timerSlack(rtoMax)))
}

// satAdd adds non-negative durations, saturating instead of overflowing.
func satAdd(a, b time.Duration) time.Duration {
	if a > maxDuration-b {
		return maxDuration
	}
	return a + b
}

// timerSlack bounds how late the kernel's timer wheel (kernel/time/timer.c)
// fires a timer armed d ahead, whatever the kernel's HZ: a timer goes to
// level n >= 1 only if it is at least 63*8^(n-1) ticks away, and is rounded
// up to that level's granularity of 8^n ticks, so by at most 8/63 of d; plus
// one tick, 10 ms at HZ 100. (Level 0 rounds by a single tick.)
func timerSlack(d time.Duration) time.Duration {
	const tick = 10 * time.Millisecond
	if d <= 0 {
		return tick
	}
	if d > maxDuration/8 {
		return d
	}
	return (d*8+62)/63 + tick
}

// Within returns a Config that detects a dead peer within deadline both on
// an idle connection (WorstCaseDetectionTime <= deadline, counted from the
// last segment received) and with data in flight (InFlightDetectionTime's hi
// <= deadline, counted from the first retransmission, which comes one
// retransmission timeout after the write: 200 ms or more). Its Idle stays
// below middleboxIdle, the idle timeout of a NAT or load balancer on the
// path (for example 350 s for AWS NLB, 240 s for Azure); zero means there is
// none.
//
// The two cases can follow each other: a peer that dies just before a write
// is found only after the write's retransmission timeout and UserTimeout,
// up to Idle + RTO + UserTimeout after its last segment. Ask for a shorter
// deadline where that matters.
//
// It prefers 3 probes at an interval of about a sixth of the deadline and
// gives the rest to Idle, so probes are rare on healthy connections. Neither
// Idle nor Interval is so long that its timer, however late it fires (see
// WorstCaseDetectionTime), comes less than 1 s before middleboxIdle (about
// 88 % of it), nor above what the kernel accepts (32767 s on Linux), so a
// very long deadline is met early. UserTimeout is set to
// Idle + Count*Interval, which keeps Count meaningful and DetectionTime exact
// while UserTimeout is set. The shortest deadline possible on Linux is about
// 2.3 s (Idle 1 s, Interval 1 s, Count 1, plus timer slack).
func Within(deadline, middleboxIdle time.Duration) (Config, error) {
	if !osLimits.supported() {
		return Config{}, errUnsupported()
	}
	idleCap := osLimits.idleMax
	if middleboxIdle > 0 {
		// Even a late timer must fire at least 1 s before the middlebox
		// forgets the flow: Idle + timerSlack(Idle) + 1s <= middleboxIdle.
		const margin = time.Second
		m := min(middleboxIdle, 2*idleCap) // above that the kernel's limit decides; no overflow
		d := ((m - margin) * 63 / 71).Truncate(time.Second)
		for d >= time.Second && d+timerSlack(d)+margin > m {
			d -= time.Second
		}
		if d < time.Second {
			return Config{}, fmt.Errorf("keepalive: Within: middlebox idle timeout %v is too short to stay below with an Idle of at least 1s: %w",
				middleboxIdle, syscall.EINVAL)
		}
		idleCap = min(idleCap, d)
	}
	if deadline > 0 {
		for count := 3; count >= 1; count-- {
			// Unanswered probes must not leave the middlebox idle either.
			interval := min(idleCap, max(time.Second, (deadline/time.Duration(2*count)).Truncate(time.Second)))
			idle := min(idleCap, (deadline - time.Duration(count)*interval).Truncate(time.Second))
			for ; idle >= time.Second; idle -= time.Second {
				c := Config{Idle: idle, Interval: interval, Count: count}
				c.UserTimeout = idle + time.Duration(count)*interval
				if _, inFlight := c.InFlightDetectionTime(); c.WorstCaseDetectionTime() <= deadline && inFlight <= deadline {
					if err := c.Validate(); err != nil {
						return Config{}, err
					}
					return c, nil
				}
			}
		}
	}
	return Config{}, fmt.Errorf("keepalive: Within: no Config detects a dead peer within %v (the shortest is about 2.3s): %w",
		deadline, syscall.EINVAL)
}
