package keepalive

import (
	"fmt"
	"syscall"
	"time"
)

// The detection-time model. It is arithmetic on a Config and a System: it
// reads nothing from the system, so every platform's formula is tested on
// any host. docs/detection.md has the derivation and the measurements.

// System is what the kernel uses where a Config leaves a field zero, and,
// on Linux, what bounds data in flight when UserTimeout is zero. A zero
// field stands for the kernel's compiled-in default; ReadSystem reads the
// host's.
type System struct {
	Idle     time.Duration // keepalive idle time of a socket that sets none
	Interval time.Duration // keepalive interval of a socket that sets none
	Count    int           // keepalive probes of a socket that sets none
	Retries2 int           // Linux net.ipv4.tcp_retries2; 15 if zero
	RTOMax   time.Duration // Linux net.ipv4.tcp_rto_max_ms (at most 120 s); 120 s if zero
	// RTO is the connection's retransmission timeout when it writes; 1 s,
	// the kernel's initial one, if zero.
	RTO time.Duration
}

// Never is a Detection bound for a failure the kernel never detects.
const Never time.Duration = 1<<63 - 1

// Detection is how long the kernel keeps a connection to a dead peer open.
type Detection struct {
	// Idle is the time from the last segment received to the failure on
	// an idle connection, with the kernel's timers on time. The failure
	// comes between IdleMin and IdleMax.
	Idle, IdleMin, IdleMax time.Duration
	// InFlightMin and InFlightMax bound the failure after a write to an
	// idle connection that nothing answers, from the write: whether the
	// data left and was lost, or never left (own link down). Zero where
	// not modelled.
	InFlightMin, InFlightMax time.Duration
	// ZeroWindowMin and ZeroWindowMax bound the failure when a live peer
	// stops reading, from the first write its closed window keeps from
	// leaving: only UserTimeout ends that, Never without it. Zero where
	// not modelled.
	ZeroWindowMin, ZeroWindowMax time.Duration
}

// Detection returns how long a connection holding c stays open once its
// peer is dead, with sys for the fields c leaves zero. It fails as Validate
// does for a Config this OS refuses.
func (c Config) Detection(sys System) (Detection, error) {
	p := host()
	if err := p.validate(c); err != nil {
		return Detection{}, err
	}
	if err := sys.check(); err != nil {
		return Detection{}, err
	}
	return p.detection(c, sys), nil
}

func (s System) check() error {
	if s.Idle < 0 || s.Interval < 0 || s.Count < 0 || s.Retries2 < 0 || s.RTOMax < 0 || s.RTO < 0 {
		return fmt.Errorf("keepalive: invalid System %+v: negative field: %w", s, syscall.EINVAL)
	}
	return nil
}

// detection is Detection for a c that p accepts.
func (p *platform) detection(c Config, sys System) Detection {
	if p == nil {
		return Detection{}
	}
	m := p.modelConfig(c, sys)
	d := Detection{Idle: p.idleTime(m), IdleMin: p.idleEarliest(m), IdleMax: p.idleWorstCase(m)}
	d.InFlightMin, d.InFlightMax = p.inFlight(m, sys)
	d.ZeroWindowMin, d.ZeroWindowMax = p.zeroWindow(m, sys)
	return d
}

// modelConfig is c as p's kernel holds it: rounded up, zero fields from
// sys, and zero fields of sys from p's compiled-in defaults. Where the OS
// does not let Count be set, its fixed count applies.
func (p *platform) modelConfig(c Config, sys System) Config {
	c = p.rounded(c)
	c = c.withDefaults(Config{Idle: sys.Idle, Interval: sys.Interval, Count: sys.Count})
	c = c.withDefaults(p.defaults)
	if p.fixedCount > 0 {
		c.Count = p.fixedCount
	}
	return c
}

// withDefaults returns c with every zero keepalive field taken from d.
func (c Config) withDefaults(d Config) Config {
	if c.Idle == 0 {
		c.Idle = d.Idle
	}
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.Count == 0 {
		c.Count = d.Count
	}
	return c
}

// probes returns how many keepalive probes go out before the connection is
// dropped: Count; on Linux with UserTimeout set, k = max(1, ceil((UserTimeout
// - Idle) / Interval)), since the kernel then ignores Count and checks the
// user timeout only when a probe timer fires, after at least one probe.
func (p *platform) probes(m Config) int64 {
	if m.UserTimeout <= 0 || !p.userTimeoutCapsProbes {
		return int64(max(m.Count, 0))
	}
	rest := m.UserTimeout - m.Idle
	if rest <= 0 || m.Interval <= 0 {
		return 1
	}
	return max(1, int64(rest/m.Interval)+min(int64(rest%m.Interval), 1))
}

// idleTime: Idle + probes*Interval, and on illumos one tick more, since its
// kernel drops the connection only once the probing time is strictly
// exceeded.
func (p *platform) idleTime(m Config) time.Duration {
	d := satAdd(m.Idle, satMul(m.Interval, p.probes(m)))
	if p.strictAbort {
		d = satAdd(d, p.tickLen())
	}
	return d
}

// idleEarliest: on Linux with UserTimeout set, a late probe timer j can
// find the user timeout already spent: then max(UserTimeout, Idle +
// j*Interval) for the first such j. Elsewhere idleTime.
func (p *platform) idleEarliest(m Config) time.Duration {
	k := p.probes(m)
	onTime := p.idleTime(m)
	if !p.userTimeoutCapsProbes || m.UserTimeout <= 0 || k < 2 {
		return onTime
	}
	// The first j >= 1 whose timer, as late as it can be, sees UserTimeout
	// spent: Idle + slack(Idle) + j*(Interval + slack(Interval)) >= UserTimeout.
	first, step := satAdd(m.Idle, p.timerSlack(m.Idle)), satAdd(m.Interval, p.timerSlack(m.Interval))
	j := int64(1)
	if rest := m.UserTimeout - first; rest > step {
		j = int64(rest/step) + min(int64(rest%step), 1)
	}
	if j >= k {
		return onTime
	}
	return max(m.UserTimeout, satAdd(m.Idle, satMul(m.Interval, j)))
}

// idleWorstCase: every timer (the idle one and each probe's) as late as it
// can be.
func (p *platform) idleWorstCase(m Config) time.Duration {
	d := satAdd(satAdd(m.Idle, p.timerSlack(m.Idle)), satMul(satAdd(m.Interval, p.timerSlack(m.Interval)), p.probes(m)))
	if p.strictAbort {
		d = satAdd(d, p.tickLen())
	}
	return d
}

// inFlight: with a user timeout, it; without, the Linux retransmission
// budget, or on other systems (0, 0): unknown. Counted from the write: the
// clock starts at the first retransmission, up to two late RTO timers after
// it (a tail-loss probe, then the retransmission), or at the write itself
// when that retransmission fails locally (Linux then keeps the original's
// send time).
func (p *platform) inFlight(m Config, sys System) (lo, hi time.Duration) {
	rto := sys.rto()
	// The first retransmission's timer runs at most the RTO, the first
	// window probe's max(RTO, TCP_RTO_MIN) (tcp_probe0_base).
	first := max(rto, rtoMin)
	start := satMul(satAdd(first, p.timerSlack(first)), 2)
	if ut := m.UserTimeout; ut > 0 {
		late := p.timerSlack(ut)
		switch {
		case p.userTimeoutOnRetransmit:
			// Checked when the backed-off retransmission timer fires:
			// the next firing is at most as far off as the time spent
			// retransmitting so far, and never beyond rexmtMax.
			late = satAdd(min(ut, p.rexmtMax), p.timerSlack(min(ut, p.rexmtMax)))
		case p.retries2Model:
			// Linux clamps the retransmission timer to the user timeout,
			// except when an ICMP unreachable (a router saying the peer
			// is gone) reverts the backoff (tcp_ld_RTO_revert): that
			// re-arms it unclamped, at most one backed-off RTO, about the
			// time spent so far plus one RTO, and never beyond RTOMax.
			d := min(satAdd(ut, rto), sys.rtoMax())
			late = satAdd(d, p.timerSlack(d))
		}
		return ut, satAdd(satAdd(ut, late), start)
	}
	if !p.retries2Model {
		return 0, 0
	}
	rtoMax := sys.rtoMax()
	lo = modelTimeout(sys.Retries2, rtoMin, rtoMax)
	// Data sent: the budget is checked when a retransmission timer fires,
	// up to one RTOMax and its slack past it. Data that never left (own
	// link down) waits on the window-probe timer instead, which gives up
	// after tcp_retries2 unanswered probes backing off from the RTO.
	hi = satAdd(satAdd(lo, satAdd(rtoMax, p.timerSlack(rtoMax))), start)
	return lo, max(hi, p.probeBudget(sys.Retries2, max(rto, rtoMin), rtoMax))
}

// zeroWindow: Linux sends window probes while the peer's window is closed
// and, as long as they are answered, gives up only at the user timeout,
// counted from the first probe, one RTO after the window closed, with the
// probe timer clamped to it.
func (p *platform) zeroWindow(m Config, sys System) (lo, hi time.Duration) {
	switch {
	case !p.retries2Model:
		return 0, 0
	case m.UserTimeout <= 0:
		return Never, Never
	}
	probe, ut := max(sys.rto(), rtoMin), m.UserTimeout // tcp_probe0_base
	return ut, satAdd(satAdd(ut, p.timerSlack(ut)), satAdd(probe, p.timerSlack(probe)))
}

func (s System) rto() time.Duration {
	if s.RTO > 0 {
		return s.RTO
	}
	return time.Second
}

func (s System) rtoMax() time.Duration {
	if s.RTOMax > 0 {
		return s.RTOMax
	}
	return 120 * time.Second
}

// tickLen is the longest tick the platform's timers count in.
func (p *platform) tickLen() time.Duration {
	if p.tick > 0 {
		return p.tick
	}
	return 10 * time.Millisecond
}

// timerSlack bounds how late a timer armed d ahead fires. On Linux the
// timer wheel puts a timer on level n >= 1 only if it is at least
// 63*8^(n-1) ticks away and rounds it up to that level's granularity of 8^n
// ticks, so by at most 8/63 of d, whatever HZ is; plus one tick, 10 ms at
// HZ 100. Other systems get the same bound, with macOS's 500 ms keepalive
// coalescing as its tick.
func (p *platform) timerSlack(d time.Duration) time.Duration {
	tick := p.tickLen()
	if d <= 0 {
		return tick
	}
	if d > (maxDuration-62)/8 { // d*8+62 would overflow
		return d
	}
	return satAdd((d*8+62)/63, tick)
}

// rtoMin is TCP_RTO_MIN, the base of the kernel's tcp_model_timeout.
const rtoMin = 200 * time.Millisecond

// modelTimeout is the kernel's tcp_model_timeout: how long retries2
// retransmissions take, doubling from base up to rtoMax and linear after.
// A zero retries2 stands for the default, 15.
func modelTimeout(retries2 int, base, rtoMax time.Duration) time.Duration {
	if retries2 <= 0 {
		retries2 = 15
	}
	thresh := 0 // ilog2(rtoMax / base); 30 keeps the shifts below from overflowing
	for thresh < 30 && base<<(thresh+1) <= rtoMax {
		thresh++
	}
	n := min(retries2, 255) // the kernel keeps it in a u8
	if n <= thresh {
		return (time.Duration(1)<<(n+1) - 1) * base
	}
	return satAdd((time.Duration(1)<<(thresh+1)-1)*base, satMul(rtoMax, int64(n-thresh)))
}

// probeBudget is when Linux's window-probe timer gives up on unanswered
// probes: at the firing after retries2 of them, each interval doubling
// from base up to rtoMax and each firing late by its slack.
func (p *platform) probeBudget(retries2 int, base, rtoMax time.Duration) time.Duration {
	if retries2 <= 0 {
		retries2 = 15
	}
	var t time.Duration
	d := min(base, rtoMax)
	for range min(retries2, 255) + 1 {
		t = satAdd(t, satAdd(d, p.timerSlack(d)))
		d = min(satMul(d, 2), rtoMax)
	}
	return t
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

// ReadSystem reads this host's System. Linux: the sysctls
// net.ipv4.tcp_keepalive_time, _intvl, _probes, tcp_retries2 and
// tcp_rto_max_ms of the caller's network namespace. macOS and the BSDs: the
// sysctls net.inet.tcp.keepidle, keepintvl and keepcnt (8 probes on
// OpenBSD). Windows: the registry's KeepAliveTime and KeepAliveInterval,
// and 10 probes. illumos, Solaris and AIX keep them where a program cannot
// read them: there, as on js, wasip1 and plan9, it fails with an error
// wrapping errors.ErrUnsupported.
func ReadSystem() (System, error) { return readSystem() }
