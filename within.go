package keepalive

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Within returns a Config that detects a dead peer within deadline: its
// Detection's IdleMax (from the last segment received), InFlightMax (from a
// write) and ZeroWindowMax (see Detection) are at most deadline, for a
// connection whose RTO is at most 1 s, whatever the system's defaults.
// Idle and Interval stay far enough below
// middleboxIdle, the idle timeout of a NAT or load balancer on the path
// (350 s for AWS NLB, 240 s for Azure), that even a late timer fires
// before it; zero means there is none. It prefers 3 probes and a long Idle,
// so probes are rare on healthy connections.
//
// A deadline too short for this OS fails with an error wrapping
// syscall.EINVAL that names the shortest possible; an OS that cannot bound
// data in flight or set every value per connection fails with one wrapping
// errors.ErrUnsupported.
func Within(deadline, middleboxIdle time.Duration) (Config, error) {
	return host().within(deadline, middleboxIdle)
}

func (p *platform) within(deadline, middleboxIdle time.Duration) (Config, error) {
	if p == nil {
		return Config{}, errUnsupported()
	}
	if middleboxIdle < 0 {
		return Config{}, fmt.Errorf("keepalive: Within: middlebox idle timeout %v is negative (0 means none): %w", middleboxIdle, syscall.EINVAL)
	}
	if p.idle.name == "" || p.count.name == "" || p.userTimeout.name == "" {
		return Config{}, fmt.Errorf("keepalive: Within: %s cannot bound detection with data in flight or set every value per connection (%s): %w",
			p.name, p.notPerSocket, errors.ErrUnsupported)
	}
	idleMin := max(time.Second, p.idle.min)
	intervalMin := max(time.Second, p.interval.min)
	idleCap, intervalCap := p.idle.max, p.interval.max
	if middleboxIdle > 0 {
		below := p.idleBelow(middleboxIdle)
		if below < idleMin {
			return Config{}, fmt.Errorf("keepalive: Within: middlebox idle timeout %v is too short to stay below with an Idle of at least %v: %w",
				middleboxIdle, idleMin, syscall.EINVAL)
		}
		// Unanswered probes must not leave the middlebox idle either.
		idleCap, intervalCap = min(idleCap, below), min(intervalCap, below)
	}
	if c, ok := p.planWithin(deadline, idleMin, intervalMin, idleCap, intervalCap); ok {
		if err := p.validate(c); err != nil {
			return Config{}, err
		}
		return c, nil
	}
	// The shortest: one probe at the shortest Idle and Interval, and the
	// shortest whole-second user timeout.
	d := p.detection(p.withinConfig(1, intervalMin, idleMin, time.Second), anySystem)
	shortest := max(d.IdleMax, d.InFlightMax, d.ZeroWindowMax).Round(100 * time.Millisecond)
	return Config{}, fmt.Errorf("keepalive: Within: no Config detects a dead peer within %v on %s (the shortest is about %v): %w",
		deadline, p.name, shortest, syscall.EINVAL)
}

// idleBelow is the longest whole-second timer that fires, even late, at
// least 1 s before a middlebox forgets a flow idle for m: d +
// timerSlack(d) + 1s <= m. The slack is at most 8/63 of d plus a tick, so
// d = (m - 1s) * 63/71 (d plus 8/63 of d is 71/63 of d) is the first
// guess, and whole seconds down from it take off the tick. Zero if none.
func (p *platform) idleBelow(m time.Duration) time.Duration {
	const margin = time.Second
	m = min(m, 2*p.idle.max) // above that the kernel's limit decides; no overflow
	d := ((m - margin) * 63 / 71).Truncate(time.Second)
	for d >= time.Second && d+p.timerSlack(d)+margin > m {
		d -= time.Second
	}
	return max(d, 0)
}

// planWithin is the Config Within prefers, false if none meets deadline
// with values in the ranges given: 3 probes if they fit, else 2, else 1;
// for that count the longest Interval up to about a sixth of the time
// probing may take, then the longest Idle, so probes stay rare on healthy
// connections.
func (p *platform) planWithin(deadline, idleMin, intervalMin, idleCap, intervalCap time.Duration) (Config, bool) {
	if deadline <= 0 || intervalCap < intervalMin {
		return Config{}, false
	}
	// The user timeout: on Linux it ends probing too and is set by
	// withinConfig; elsewhere it bounds only data in flight, the longest
	// that meets the deadline.
	ut := time.Duration(0)
	budget := deadline // what probing may take
	if p.userTimeoutCapsProbes {
		budget = p.longestUserTimeout(deadline)
	} else if ut = p.longestUserTimeout(deadline); ut == 0 {
		return Config{}, false
	}
	for count := int64(3); count >= 1; count-- {
		if !p.meets(deadline, p.withinConfig(count, intervalMin, idleMin, ut)) {
			continue
		}
		preferred := min(intervalCap, max(intervalMin, (budget/time.Duration(2*count)).Truncate(time.Second)))
		interval := longestSeconds(intervalMin, preferred, func(iv time.Duration) bool {
			return p.meets(deadline, p.withinConfig(count, iv, idleMin, ut))
		})
		idle := longestSeconds(idleMin, idleCap, func(id time.Duration) bool {
			return p.meets(deadline, p.withinConfig(count, interval, id, ut))
		})
		return p.withinConfig(count, interval, idle, ut), true
	}
	return Config{}, false
}

// meets reports whether every bound of c's Detection is within deadline.
func (p *platform) meets(deadline time.Duration, c Config) bool {
	d := p.detection(c, anySystem)
	return d.IdleMax <= deadline && d.InFlightMax <= deadline && d.ZeroWindowMax <= deadline
}

// anySystem is the System Within plans for: every Config field is set, so
// only RTOMax matters, at its worst: 120 s, Linux's TCP_RTO_MAX and the
// largest tcp_rto_max_ms; and an RTO of 1 s, as Within promises.
var anySystem = System{RTOMax: 120 * time.Second}

// withinConfig is the Config Within returns for these values: on Linux
// UserTimeout = Idle + Count*Interval (the probes end the connection, and
// Detection's Idle stays exact), elsewhere ut.
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
	// ok(0) holds: a zero UserTimeout is "none" here, the answer when no
	// whole second fits.
	return longestSeconds(0, min(deadline, p.userTimeout.max), func(ut time.Duration) bool {
		_, late := p.inFlight(Config{UserTimeout: ut}, anySystem)
		return ut == 0 || late <= deadline
	})
}
