package keepalive

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Detection-time model. The exported methods follow the system the program
// runs on; the platform methods below hold each system's formula, so tests
// check every one on any host. See the package documentation, "# Detection
// time", for the derivation and the measurements.

// modelConfig is c as p's kernel holds it, zero fields filled from the
// system defaults in effect when p is this host (read only when a field is
// zero), or else from p's compiled-in defaults. Where the OS does not let
// Count be set, its fixed count applies.
func (p *platform) modelConfig(c Config) Config {
	c = p.rounded(c)
	if c.Idle == 0 || c.Interval == 0 || c.Count == 0 {
		d := p.defaults
		if p == host {
			if sys, err := SystemDefaults(); err == nil {
				d = sys
			}
		}
		c = c.WithDefaults(d)
	}
	if p.fixedCount > 0 {
		c.Count = p.fixedCount
	}
	return c
}

// probes returns how many keepalive probes go out before the connection is
// dropped: Count; on Linux with UserTimeout set, k = max(1, ceil((UserTimeout
// - Idle) / Interval)), since the kernel then ignores Count and checks the
// user timeout only when a probe timer fires, after at least one probe.
func (p *platform) probes(m Config) int64 {
	if m.UserTimeout <= 0 || !p.userTimeoutCapsProbes {
		return int64(m.Count)
	}
	rest := m.UserTimeout - m.Idle
	if rest <= 0 || m.Interval <= 0 {
		return 1
	}
	return max(1, int64((rest+m.Interval-1)/m.Interval))
}

// detectionTime: Idle + probes*Interval, and on illumos one tick more, since
// its kernel drops the connection only once the probing time is strictly
// exceeded.
func (p *platform) detectionTime(c Config) time.Duration {
	if p == nil {
		return 0
	}
	m := p.modelConfig(c)
	d := satAdd(m.Idle, satMul(m.Interval, p.probes(m)))
	if p.strictAbort {
		d = satAdd(d, p.tickLen())
	}
	return d
}

func (p *platform) earliestDetectionTime(c Config) time.Duration {
	if p == nil {
		return 0
	}
	m := p.modelConfig(c)
	k := p.probes(m)
	onTime := p.detectionTime(c)
	if !p.userTimeoutCapsProbes || m.UserTimeout <= 0 || k < 2 {
		return onTime
	}
	// The first j >= 1 whose timer, as late as it can be, sees UserTimeout
	// spent: Idle + slack(Idle) + j*(Interval + slack(Interval)) >= UserTimeout.
	first, step := m.Idle+p.timerSlack(m.Idle), m.Interval+p.timerSlack(m.Interval)
	j := int64(1)
	if rest := m.UserTimeout - first; rest > step {
		j = int64((rest + step - 1) / step)
	}
	if j >= k {
		return onTime
	}
	return max(m.UserTimeout, m.Idle+time.Duration(j)*m.Interval)
}

func (p *platform) worstCaseDetectionTime(c Config) time.Duration {
	if p == nil {
		return 0
	}
	m := p.modelConfig(c)
	n := p.probes(m)
	d := satAdd(m.Idle+p.timerSlack(m.Idle), satMul(m.Interval+p.timerSlack(m.Interval), n))
	if p.strictAbort {
		d = satAdd(d, p.tickLen())
	}
	return d
}

// inFlightDetectionTime: with a user timeout, it; without, the Linux
// retransmission budget, or on other systems (0, 0): unknown.
func (p *platform) inFlightDetectionTime(c Config, r func() (Retransmission, error)) (lo, hi time.Duration) {
	if p == nil {
		return 0, 0
	}
	ut := p.rounded(c).UserTimeout
	if ut > 0 {
		late := p.timerSlack(ut)
		if p.userTimeoutOnRetransmit {
			// Checked when the backed-off retransmission timer fires:
			// the next firing is at most as far off as the time spent
			// retransmitting so far, and never beyond rexmtMax.
			late = satAdd(min(ut, p.rexmtMax), p.timerSlack(min(ut, p.rexmtMax)))
		}
		return ut, satAdd(ut, late)
	}
	if !p.retries2Model {
		return 0, 0
	}
	rt, err := r()
	if err != nil {
		rt = Retransmission{Retries2: 15, RTOMax: 120 * time.Second}
	}
	return rt.Timeout()
}

// tickLen is the longest tick the platform's timers count in.
func (p *platform) tickLen() time.Duration {
	if p.tick > 0 {
		return p.tick
	}
	return 10 * time.Millisecond
}

// timerSlack bounds how late a timer armed d ahead fires. On Linux the
// timer wheel (kernel/time/timer.c) puts a timer on level n >= 1 only if it
// is at least 63*8^(n-1) ticks away and rounds it up to that level's
// granularity of 8^n ticks, so by at most 8/63 of d, whatever HZ is; plus
// one tick, 10 ms at HZ 100. Other systems get the same bound (their
// callouts are no coarser), with macOS's 500 ms coalescing of the keepalive
// timer as its tick.
func (p *platform) timerSlack(d time.Duration) time.Duration {
	tick := p.tickLen()
	if d <= 0 {
		return tick
	}
	if d > maxDuration/8 {
		return d
	}
	return (d*8+62)/63 + tick
}

// timerSlack is the Linux bound, for the retransmission model.
func timerSlack(d time.Duration) time.Duration { return linuxPlatform.timerSlack(d) }

// DetectionTime is the model time from the last segment received from a dead
// peer to the connection failing (a blocked Read returns ETIMEDOUT), on an
// idle connection, with the kernel's timers on time:
//
//	Linux, UserTimeout zero: Idle + Count*Interval
//	Linux, UserTimeout set:  Idle + k*Interval, k = max(1, ceil((UserTimeout-Idle)/Interval))
//	macOS, the BSDs, AIX, Windows: Idle + Count*Interval (UserTimeout bounds
//	    only data in flight); Count is 8 on OpenBSD, 10 with Windows'
//	    SIO_KEEPALIVE_VALS
//	illumos, Solaris: Idle + Count*Interval + one tick (the kernel's check is a strict >)
//
// using the values as the kernel holds them (rounded up, see Rounded). Zero
// Idle, Interval and Count count as the system's values, read from
// SystemDefaults when the method is called, or the kernel's compiled-in
// defaults where those cannot be read (Linux 7200 s, 75 s, 9; the BSDs and
// macOS 7200 s, 75 s, 8; Windows 7200 s, 1 s, 10; illumos 7200 s and 480 s
// of probing, modelled as 60 s, 8). A zero UserTimeout is off. Call
// c.WithDefaults(d).DetectionTime() to compute it for other defaults d
// without reading the system. On an operating system without keepalive
// options (js, wasip1, plan9) it returns 0.
//
// The kernel's timers fire late, never early, so the connection fails
// between EarliestDetectionTime and WorstCaseDetectionTime. The two ends
// differ from DetectionTime only by timer slack, except in one case on
// Linux: with UserTimeout set just above a probe time, a late timer can find
// the user timeout spent one probe earlier. Setting UserTimeout to exactly
// Idle + Count*Interval (as Within does) avoids that.
func (c Config) DetectionTime() time.Duration { return host.detectionTime(c) }

// EarliestDetectionTime is the soonest an idle connection with a dead peer
// can fail: DetectionTime, unless (Linux only) UserTimeout is set and the
// timer slack accumulated by an earlier probe timer j can reach UserTimeout,
// in which case max(UserTimeout, Idle + j*Interval) (the kernel checks the
// user timeout whenever a probe timer fires, after the first probe). The
// kernel counts in ticks from a receive time rounded down to a tick, so the
// failure can come up to one tick (at most 10 ms) sooner still.
func (c Config) EarliestDetectionTime() time.Duration { return host.earliestDetectionTime(c) }

// WorstCaseDetectionTime is DetectionTime plus the most the kernel's timers
// can delay each keepalive timer (the idle timer and one per probe). On
// Linux a timer armed d ahead is rounded up to its wheel level's
// granularity, at most 8/63 of d, plus a tick (10 ms at the lowest HZ, 100):
// 137 ms for a 1 s timer, 2.55 s for a 20 s one. That holds for any HZ; the
// real rounding is 64 ms for a 1 s timer at HZ 1000, and 2.05 s for a 20 s
// timer at HZ 250. The same bound is used on the other systems, with a
// 500 ms tick on macOS, which coalesces its keepalive timer to 500 ms; it is
// measured only on Linux. A dead idle peer is detected within this time.
func (c Config) WorstCaseDetectionTime() time.Duration { return host.worstCaseDetectionTime(c) }

// InFlightDetectionTime bounds the time to detect a dead peer while sent
// data is unacknowledged (keepalive does not probe then). It is measured from
// the first retransmission, which comes one retransmission timeout (at least
// 200 ms on Linux, more on a slow path) after the write.
//
// With UserTimeout set the connection fails UserTimeout after the first
// retransmission: lo is UserTimeout. On Linux, which shortens the
// retransmission timer to end on time, hi adds only timer slack. macOS
// (TCP_RXT_CONNDROPTIME), FreeBSD (TCP_MAXUNACKTIME), illumos
// (TCP_ABORT_THRESHOLD) and Windows (TCP_MAXRT) check it only when the
// backed-off retransmission timer fires, so hi adds up to min(UserTimeout,
// the maximum retransmission timeout: 64 s on the BSDs, 60 s on illumos and
// Windows) and its slack.
//
// Without UserTimeout, on Linux the kernel's tcp_retries2 budget applies (see
// Retransmission.Timeout), read from the system when the method is called;
// that is 924.6 s up to about 1060 s with the Linux defaults. Other systems
// have no model for that case, and both are 0: unknown. Both are also 0 on an
// operating system without keepalive options.
func (c Config) InFlightDetectionTime() (lo, hi time.Duration) {
	return host.inFlightDetectionTime(c, SystemRetransmission)
}

// Retransmission holds the Linux kernel settings that bound detection while
// data is in flight and no UserTimeout is set.
type Retransmission struct {
	Retries2 int           // net.ipv4.tcp_retries2
	RTOMax   time.Duration // net.ipv4.tcp_rto_max_ms; 120 s on kernels without it
}

// rtoMin is TCP_RTO_MIN, the base of the kernel's tcp_model_timeout.
const rtoMin = 200 * time.Millisecond

// Timeout returns the window in which a Linux connection with
// unacknowledged data and no UserTimeout fails, measured from the first
// retransmission. The kernel's budget (tcp_model_timeout) is, with thresh =
// ilog2(RTOMax/200ms) (9 for 120 s):
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

// satMul multiplies a non-negative duration by n >= 0, saturating.
func satMul(d time.Duration, n int64) time.Duration {
	if n > 0 && d > maxDuration/time.Duration(n) {
		return maxDuration
	}
	return d * time.Duration(n)
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
// It prefers 3 probes at an interval of about a sixth of the deadline
// (shorter where the shortest Idle would not fit otherwise) and gives the
// rest to Idle, so probes are rare on healthy connections. Neither
// Idle nor Interval is so long that its timer, however late it fires (see
// WorstCaseDetectionTime), comes less than 1 s before middleboxIdle (about
// 88 % of it), nor outside what the kernel accepts (32767 s on Linux; see
// the platform table), so a very long deadline is met early. On Linux
// UserTimeout is set to Idle + Count*Interval, which keeps Count meaningful
// and DetectionTime exact while UserTimeout is set. The shortest
// deadline possible on Linux is about 2.3 s (Idle 1 s, Interval 1 s, Count
// 1, plus timer slack); on illumos, whose Idle is at least 10 s, about
// 12.5 s; the error for a shorter one names the shortest.
//
// Where the OS has no bound for data in flight (NetBSD, DragonFly, OpenBSD,
// AIX, FreeBSD before 14) or cannot set the values per connection (OpenBSD,
// Count on Windows before 10 1709), Within returns an error wrapping
// errors.ErrUnsupported; build the Config by hand there. Elsewhere, where
// the user timeout bounds only data in flight (macOS, FreeBSD, illumos,
// Solaris, Windows), UserTimeout is the longest that meets the deadline.
func Within(deadline, middleboxIdle time.Duration) (Config, error) {
	return host.within(deadline, middleboxIdle)
}

func (p *platform) within(deadline, middleboxIdle time.Duration) (Config, error) {
	if p == nil {
		return Config{}, errUnsupported()
	}
	if p.idle.name == "" || p.count.name == "" || p.userTimeout.name == "" {
		return Config{}, fmt.Errorf("keepalive: Within: %s cannot bound detection with data in flight or set every value per connection (%s): %w",
			p.name, p.notPerSocket, errors.ErrUnsupported)
	}
	idleMin := max(time.Second, p.idle.min)
	intervalMin := max(time.Second, p.interval.min)
	idleCap, intervalCap := p.idle.max, p.interval.max
	if middleboxIdle > 0 {
		// Even a late timer must fire at least 1 s before the middlebox
		// forgets the flow: Idle + timerSlack(Idle) + 1s <= middleboxIdle.
		const margin = time.Second
		m := min(middleboxIdle, 2*idleCap) // above that the kernel's limit decides; no overflow
		d := ((m - margin) * 63 / 71).Truncate(time.Second)
		for d >= time.Second && d+p.timerSlack(d)+margin > m {
			d -= time.Second
		}
		if d < idleMin {
			return Config{}, fmt.Errorf("keepalive: Within: middlebox idle timeout %v is too short to stay below with an Idle of at least %v: %w",
				middleboxIdle, idleMin, syscall.EINVAL)
		}
		idleCap, intervalCap = min(idleCap, d), min(intervalCap, d)
	}
	if deadline > 0 && intervalCap >= intervalMin {
		ut := time.Duration(0)
		if !p.userTimeoutCapsProbes {
			// The user timeout bounds only data in flight here: the
			// longest that still meets the deadline.
			if ut = p.longestUserTimeout(deadline); ut == 0 {
				goto none
			}
		}
		fits := func(count int64, interval, idle time.Duration) bool {
			c := p.withinConfig(count, interval, idle, ut)
			_, inFlight := p.inFlightDetectionTime(c, nil)
			return p.worstCaseDetectionTime(c) <= deadline && inFlight <= deadline
		}
		for count := int64(3); count >= 1; count-- {
			if !fits(count, intervalMin, idleMin) {
				continue
			}
			// The longest Interval up to about a sixth of the deadline
			// that leaves room for the shortest Idle, then the longest
			// Idle: probes stay rare on healthy connections. (Unanswered
			// probes must not leave the middlebox idle either.)
			preferred := min(intervalCap, max(intervalMin, (deadline/time.Duration(2*count)).Truncate(time.Second)))
			interval := longestSeconds(intervalMin, preferred, func(iv time.Duration) bool { return fits(count, iv, idleMin) })
			idle := longestSeconds(idleMin, idleCap, func(id time.Duration) bool { return fits(count, interval, id) })
			c := p.withinConfig(count, interval, idle, ut)
			if err := p.validate(c); err != nil {
				return Config{}, err
			}
			return c, nil
		}
	}
none:
	shortest := p.worstCaseDetectionTime(Config{Idle: idleMin, Interval: intervalMin, Count: 1}).Round(100 * time.Millisecond)
	return Config{}, fmt.Errorf("keepalive: Within: no Config detects a dead peer within %v on %s (the shortest is about %v): %w",
		deadline, p.name, shortest, syscall.EINVAL)
}

// withinConfig is the Config Within returns for these values: on Linux
// UserTimeout = Idle + Count*Interval (the probes end the connection, and
// DetectionTime stays exact), elsewhere ut.
func (p *platform) withinConfig(count int64, interval, idle, ut time.Duration) Config {
	c := Config{Idle: idle, Interval: interval, Count: int(count), UserTimeout: ut}
	if p.userTimeoutCapsProbes {
		c.UserTimeout = idle + time.Duration(count)*interval
	}
	return c
}

// longestSeconds is the longest whole number of seconds d in [lo, hi] with
// ok(d), given ok(lo) and ok monotone (true up to some d, false after).
func longestSeconds(lo, hi time.Duration, ok func(time.Duration) bool) time.Duration {
	l, h := int64(lo/time.Second), int64(hi/time.Second)
	for l < h {
		n := h - (h-l)/2
		if ok(time.Duration(n) * time.Second) {
			l = n
		} else {
			h = n - 1
		}
	}
	return time.Duration(l) * time.Second
}

// longestUserTimeout is the longest whole-second UserTimeout whose in-flight
// bound stays within deadline, or 0 if there is none.
func (p *platform) longestUserTimeout(deadline time.Duration) time.Duration {
	lo, hi := int64(0), int64(min(deadline, p.userTimeout.max)/time.Second)
	for lo < hi { // the largest n with inFlight(n s) <= deadline
		n := hi - (hi-lo)/2
		if _, late := p.inFlightDetectionTime(Config{UserTimeout: time.Duration(n) * time.Second}, nil); late <= deadline {
			lo = n
		} else {
			hi = n - 1
		}
	}
	return time.Duration(lo) * time.Second
}
