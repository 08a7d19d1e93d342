package keepalive_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"net"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
)

// Fuzz targets for the pure half of the API: Validate and Rounded, the
// detection model, Within, and the net.KeepAliveConfig conversions, through
// exported names only. The seeds run in plain `go test`; to fuzz one:
//
//	go test -run '^$' -fuzz FuzzDetection -fuzztime 2m .
//
// Each target takes one []byte read as little-endian int64s (zero past the
// end): the fuzzer's byte mutations (bit flips, interesting values) jump
// between scales, where typed int64 arguments only step ±100 from a seed.
// The expected values are Linux's (net/ipv4/tcp.c, tcp_timer.c), computed
// here exactly with math/big.

const (
	maxDur        = time.Duration(math.MaxInt64)
	linuxKeepMax  = 32767 * time.Second              // MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL
	linuxCountMax = 127                              // MAX_TCP_KEEPCNT
	linuxUTMax    = math.MaxInt32 * time.Millisecond // TCP_USER_TIMEOUT, a C int of ms
	linuxTick     = 10 * time.Millisecond            // HZ 100
	linuxRTOMin   = 200 * time.Millisecond           // TCP_RTO_MIN, tcp_model_timeout's base
	year          = 365 * 24 * time.Hour             // below it the model is exact, not a bound
	usedBefore    = time.Second                      // Within fires the last timer this long before a middlebox forgets
)

// linuxCompiledIn is what a zero System field stands for on Linux.
var linuxCompiledIn = keepalive.System{Idle: 7200 * time.Second, Interval: 75 * time.Second, Count: 9, Retries2: 15, RTOMax: 120 * time.Second}

func FuzzValidate(f *testing.F) {
	skipUnlessLinux(f)
	s, ms := time.Second, time.Millisecond
	for _, c := range []keepalive.Config{
		{},
		{Idle: s, Interval: s, Count: 1},
		{Idle: 1, Interval: 1, UserTimeout: 1},
		{Idle: s - 1, Interval: s + 1, Count: linuxCountMax, UserTimeout: ms + 1},
		{Idle: 7200 * s, Interval: 75 * s, Count: 9, UserTimeout: 1500 * time.Microsecond},
		{Idle: linuxKeepMax, Interval: linuxKeepMax, Count: linuxCountMax, UserTimeout: linuxUTMax},
		{Idle: linuxKeepMax - s + 1, Interval: linuxKeepMax - 1, UserTimeout: linuxUTMax - ms + 1},
		{Idle: linuxKeepMax + 1}, // rounds up to 32768 s
		{Interval: linuxKeepMax + 1},
		{Count: linuxCountMax + 1},
		{UserTimeout: linuxUTMax + 1},
		{Idle: -1, Interval: -s, Count: -1, UserTimeout: -ms},
		{Idle: s, Interval: s, Count: 3, UserTimeout: -1},
		{Idle: s, Interval: s, Count: -1},
		{Idle: maxDur, Interval: maxDur, Count: math.MaxInt, UserTimeout: maxDur},
		{Idle: maxDur - s + 1, Interval: maxDur - s},
		{Idle: math.MinInt64, Interval: math.MinInt64, Count: math.MinInt, UserTimeout: math.MinInt64},
	} {
		f.Add(configSeed(c))
	}
	f.Fuzz(func(tt *testing.T, b []byte) {
		t := noHelper{tt}
		in := fuzzInts(b)
		c := in.config()
		checkValidate(t, c)
		checkValidate(t, foldConfig(c, true))
	})
}

// checkValidate holds Validate and Rounded to Linux's ranges: each
// duration rounded up to the kernel's unit, then inside 1 s..32767 s
// (Idle, Interval), 1..127 (Count), 0..2^31-1 ms (UserTimeout); zero is the
// system's value, negative is refused.
func checkValidate(t require.TestingT, c keepalive.Config) {
	err := c.Validate()
	refused := linuxRefused(c)
	if len(refused) == 0 {
		require.NoError(t, err, "%+v", c)
	} else {
		require.Error(t, err, "%+v", c)
		assert.ErrorIs(t, err, syscall.EINVAL, "%+v", c)
		assert.NotErrorIs(t, err, errors.ErrUnsupported, "Linux sets every field: %+v", c)
		named := false
		for _, r := range refused {
			named = named || strings.Contains(err.Error(), r)
		}
		assert.True(t, named, "%q names none of %q", err, refused)
		assert.Contains(t, err.Error(), "outside", "the error gives the range")
	}

	r := c.Rounded()
	assert.Equal(t, r, r.Rounded(), "Rounded is idempotent: %+v", c)
	assert.Equal(t, c.Count, r.Count)
	assert.Equal(t, err == nil, r.Validate() == nil, "rounding never changes validity: %+v -> %+v", c, r)
	for _, f := range []struct {
		name    string
		in, out time.Duration
		unit    time.Duration
	}{
		{"Idle", c.Idle, r.Idle, time.Second},
		{"Interval", c.Interval, r.Interval, time.Second},
		{"UserTimeout", c.UserTimeout, r.UserTimeout, time.Millisecond},
	} {
		// Never down: the kernel must not probe sooner than asked.
		assert.True(t, f.out >= f.in, "%s of %+v rounded down to %v", f.name, c, f.out)
		if err == nil {
			assert.Zero(t, f.out%f.unit, "%s of %+v: a whole number of %v", f.name, c, f.unit)
			assert.True(t, f.out-f.in < f.unit, "%s of %+v rounded past the next %v: %v", f.name, c, f.unit, f.out)
		}
	}
}

// linuxRefused names each field of c Linux refuses, with its value, as the
// error must: "Idle -1s", "Count 128".
func linuxRefused(c keepalive.Config) []string {
	var refused []string
	dur := func(name string, d, limit time.Duration) {
		if d < 0 || d > limit { // above limit it rounds up past it
			refused = append(refused, fmt.Sprintf("%s %v", name, d))
		}
	}
	dur("Idle", c.Idle, linuxKeepMax)
	dur("Interval", c.Interval, linuxKeepMax)
	if c.Count < 0 || c.Count > linuxCountMax {
		refused = append(refused, fmt.Sprintf("Count %d", c.Count))
	}
	dur("UserTimeout", c.UserTimeout, linuxUTMax)
	return refused
}

func FuzzDetection(f *testing.F) {
	skipUnlessLinux(f)
	s, ms := time.Second, time.Millisecond
	for _, seed := range []struct {
		c   keepalive.Config
		sys keepalive.System
	}{
		{},
		{c: keepalive.Config{Idle: s, Interval: s, Count: 3}},
		{c: keepalive.Config{Idle: 1500 * ms, Interval: 1001 * ms, Count: 2}},
		{c: keepalive.Config{Idle: s, Interval: s, Count: 9, UserTimeout: 2500 * ms}},
		{c: keepalive.Config{Idle: 2 * s, Interval: s, Count: 9, UserTimeout: 500 * ms}},
		{c: keepalive.Config{Idle: 10 * s, Interval: 5 * s, Count: 1, UserTimeout: 25 * s}},
		{c: keepalive.Config{Idle: s, Interval: s, UserTimeout: 2010 * ms}},
		{c: keepalive.Config{Interval: 2 * s}, sys: keepalive.System{Idle: 30 * s, Interval: 5 * s, Count: 4}},
		{c: keepalive.Config{UserTimeout: linuxUTMax}, sys: keepalive.System{Retries2: 3, RTOMax: 120 * s}},
		{c: keepalive.Config{Idle: linuxKeepMax, Interval: linuxKeepMax, Count: linuxCountMax}, sys: keepalive.System{Retries2: 255, RTOMax: s}},
		{c: keepalive.Config{Idle: s, Interval: linuxKeepMax, UserTimeout: linuxUTMax}, sys: keepalive.System{Count: math.MaxInt}},
		{sys: keepalive.System{Idle: 1, Interval: 1, Count: 1, Retries2: 1, RTOMax: 1}},
		{sys: keepalive.System{Retries2: 10, RTOMax: 60 * s}},
		{sys: keepalive.System{Retries2: 256, RTOMax: 120 * s}}, // the kernel keeps 255 at most
		// Huge System values saturate, never wrap.
		{sys: keepalive.System{Idle: maxDur, Interval: maxDur, Count: math.MaxInt, Retries2: math.MaxInt, RTOMax: maxDur}},
		{sys: keepalive.System{Idle: maxDur - 1, Interval: maxDur/2 + 1, Count: 2, RTOMax: maxDur - 1}},
		{c: keepalive.Config{Count: 1}, sys: keepalive.System{Idle: maxDur / 2, Interval: maxDur / 2}},
		// Refused: a Config Validate refuses, a System with a negative field.
		{c: keepalive.Config{Idle: -1}},
		{c: keepalive.Config{Idle: maxDur, Interval: s, Count: 1}},
		{c: keepalive.Config{Count: 128}, sys: keepalive.System{Count: -1}},
		{sys: keepalive.System{Idle: math.MinInt64, Interval: -1, Count: math.MinInt, Retries2: -1, RTOMax: -1}},
		{sys: keepalive.System{RTOMax: -1}},
		{sys: keepalive.System{RTO: -1}},
		{c: keepalive.Config{UserTimeout: 3 * s}, sys: keepalive.System{RTO: 200 * ms}},
		{sys: keepalive.System{RTO: 3 * s, RTOMax: 120 * s}}, // unsent data's window probes outlast the retransmissions
		{c: keepalive.Config{UserTimeout: s}, sys: keepalive.System{RTO: maxDur}},
	} {
		f.Add(append(configSeed(seed.c), systemSeed(seed.sys)...))
	}
	f.Fuzz(func(tt *testing.T, b []byte) {
		t := noHelper{tt}
		in := fuzzInts(b)
		c, sys := in.config(), in.system()
		checkDetection(t, c, sys) // as given: refused exactly when it must be
		valid := foldConfig(c, false)
		checkDetection(t, valid, nonNegative(sys))      // any System, huge ones too
		checkDetection(t, valid, foldSystem(sys, year)) // where the formula is exact
	})
}

// checkDetection holds c.Detection(sys) to Validate, to its own ordering,
// to Linux's formula and to monotonicity.
func checkDetection(t require.TestingT, c keepalive.Config, sys keepalive.System) {
	d, err := c.Detection(sys)
	if verr := c.Validate(); verr != nil {
		require.Error(t, err, "%+v %+v", c, sys)
		assert.Equal(t, verr.Error(), err.Error(), "Detection fails as Validate does")
		assert.Zero(t, d)
		return
	}
	if sys.Idle < 0 || sys.Interval < 0 || sys.Count < 0 || sys.Retries2 < 0 || sys.RTOMax < 0 || sys.RTO < 0 {
		assert.ErrorIs(t, err, syscall.EINVAL, "a negative System field: %+v", sys)
		assert.Zero(t, d)
		return
	}
	require.NoError(t, err, "%+v %+v", c, sys)

	ctx := &detectionCase{c, sys, d}
	assert.True(t, 0 <= d.IdleMin && d.IdleMin <= d.Idle && d.Idle <= d.IdleMax, "IdleMin <= Idle <= IdleMax, none negative: %v", ctx)
	assert.True(t, 0 <= d.InFlightMin && d.InFlightMin <= d.InFlightMax, "InFlightMin <= InFlightMax, none negative: %v", ctx)
	assert.True(t, 0 < d.ZeroWindowMin && d.ZeroWindowMin <= d.ZeroWindowMax, "0 < ZeroWindowMin <= ZeroWindowMax: %v", ctx)
	dr, err := c.Rounded().Detection(sys)
	require.NoError(t, err, "%v", ctx)
	assert.Equal(t, d, dr, "the model sees c as the kernel holds it, Rounded: %v", ctx)

	want, exact := linuxDetection(c, sys)
	assert.Equal(t, want.Idle, d.Idle, "Idle + probes*Interval, saturated: %v", ctx)
	assert.True(t, d.IdleMax >= want.IdleMax, "IdleMax covers every timer's slack, at least %v: %v", want.IdleMax, ctx)
	assert.True(t, d.InFlightMax >= want.InFlightMax, "InFlightMax covers the last timer's slack, at least %v: %v", want.InFlightMax, ctx)
	if c.UserTimeout == 0 {
		assert.Equal(t, d.Idle, d.IdleMin, "without a user timeout only the probes end it: %v", ctx)
	} else {
		// Never before the user timeout, never before the first probe.
		floor := max(c.Rounded().UserTimeout, want.IdleMin)
		assert.True(t, d.IdleMin >= floor, "IdleMin at least %v: %v", floor, ctx)
		assert.Equal(t, want.InFlightMin, d.InFlightMin, "the user timeout bounds data in flight: %v", ctx)
	}
	if exact {
		assert.Equal(t, want.IdleMax, d.IdleMax, "exact below a year: %v", ctx)
		assert.Equal(t, want.InFlightMin, d.InFlightMin, "exact below a year: %v", ctx)
		assert.Equal(t, want.InFlightMax, d.InFlightMax, "exact below a year: %v", ctx)
		assert.Equal(t, want.ZeroWindowMax, d.ZeroWindowMax, "exact below a year: %v", ctx)
	}
	assert.Equal(t, want.ZeroWindowMin, d.ZeroWindowMin, "the user timeout, or Never: %v", ctx)
	assert.True(t, d.ZeroWindowMax >= want.ZeroWindowMax, "ZeroWindowMax covers the probe timers' slack, at least %v: %v", want.ZeroWindowMax, ctx)
	checkMonotone(t, c, sys, d)
}

// detectionCase prints a case only when an assertion fails.
type detectionCase struct {
	c   keepalive.Config
	sys keepalive.System
	d   keepalive.Detection
}

func (k detectionCase) String() string { return fmt.Sprintf("%+v %+v: %+v", k.c, k.sys, k.d) }

// checkMonotone: a longer timer or more probes never detect sooner. With a
// user timeout Linux stops at the first probe timer past it, wherever the
// grid Idle + k*Interval falls, so there only the user timeout itself is
// monotone.
func checkMonotone(t require.TestingT, c keepalive.Config, sys keepalive.System, d keepalive.Detection) {
	later := func(what string, c2 keepalive.Config, sys2 keepalive.System, idle, inFlight bool) {
		d2, err := c2.Detection(sys2)
		if err != nil {
			return // bumped past a limit
		}
		ok := !idle || d2.Idle >= d.Idle && d2.IdleMin >= d.IdleMin && d2.IdleMax >= d.IdleMax
		ok = ok && (!inFlight || d2.InFlightMin >= d.InFlightMin && d2.InFlightMax >= d.InFlightMax && d2.ZeroWindowMax >= d.ZeroWindowMax)
		assert.True(t, ok, "a larger %s detects sooner: %v -> %v", what, &detectionCase{c, sys, d}, &detectionCase{c2, sys2, d2})
	}
	plus := func(d, by time.Duration) time.Duration { return min(d, maxDur-by) + by }
	noUT := c.UserTimeout == 0
	// Zero fields stand for other values (the System's, the kernel's): only
	// a set field is bumped.
	// Each duration that is set, bumped: which Config or System field, and
	// which bounds must not come sooner (idle, in flight).
	bumps := []struct {
		name           string
		on             bool
		cfg            func(*keepalive.Config) *time.Duration
		sys            func(*keepalive.System) *time.Duration
		idle, inFlight bool
	}{
		{"Config.Idle", noUT && c.Idle > 0, func(c *keepalive.Config) *time.Duration { return &c.Idle }, nil, true, false},
		{"Config.Interval", noUT && c.Interval > 0, func(c *keepalive.Config) *time.Duration { return &c.Interval }, nil, true, false},
		{"Config.UserTimeout", c.UserTimeout > 0, func(c *keepalive.Config) *time.Duration { return &c.UserTimeout }, nil, true, true},
		{"System.Idle", noUT && sys.Idle > 0, nil, func(s *keepalive.System) *time.Duration { return &s.Idle }, true, false},
		{"System.Interval", noUT && sys.Interval > 0, nil, func(s *keepalive.System) *time.Duration { return &s.Interval }, true, false},
		{"System.RTOMax", noUT && sys.RTOMax > 0, nil, func(s *keepalive.System) *time.Duration { return &s.RTOMax }, false, true},
		{"System.RTO", sys.RTO > 0, nil, func(s *keepalive.System) *time.Duration { return &s.RTO }, false, true},
	}
	for _, by := range []time.Duration{time.Nanosecond, time.Second} {
		for _, b := range bumps {
			if !b.on {
				continue
			}
			c2, s2 := c, sys
			if b.cfg != nil {
				f := b.cfg(&c2)
				*f = plus(*f, by)
			} else {
				f := b.sys(&s2)
				*f = plus(*f, by)
			}
			later(b.name, c2, s2, b.idle, b.inFlight)
		}
	}
	if noUT && c.Count > 0 {
		c2 := c
		c2.Count++
		later("Config.Count", c2, sys, true, false)
	}
	if noUT && sys.Count > 0 && sys.Count < math.MaxInt {
		s2 := sys
		s2.Count++
		later("System.Count", c, s2, true, false)
	}
	if noUT && sys.Retries2 > 0 && sys.Retries2 < math.MaxInt {
		s2 := sys
		s2.Retries2++
		later("System.Retries2", c, s2, false, true)
	}
}

// linuxDetection is what Linux does with a valid c under sys, computed
// exactly and saturated only at the end: Idle exact; IdleMax and
// InFlightMax with each timer late by the documented 8/63 of it plus a
// tick (floors: the model may bound more loosely where durations pass a
// year, and is exact below); IdleMin the first probe timer, a lower bound;
// InFlightMin the user timeout or tcp_model_timeout.
func linuxDetection(c keepalive.Config, sys keepalive.System) (want keepalive.Detection, exact bool) {
	first := func(vs ...time.Duration) time.Duration {
		for _, v := range vs {
			if v != 0 {
				return v
			}
		}
		return 0
	}
	idle := first(roundUpTo(c.Idle, time.Second), sys.Idle, linuxCompiledIn.Idle)
	intvl := first(roundUpTo(c.Interval, time.Second), sys.Interval, linuxCompiledIn.Interval)
	ut := roundUpTo(c.UserTimeout, time.Millisecond)
	probes := int64(first(time.Duration(c.Count), time.Duration(sys.Count), time.Duration(linuxCompiledIn.Count)))
	if ut > 0 {
		// Count is ignored; probing stops at the first probe timer at or
		// past the user timeout, after at least one probe.
		probes = 1
		if rest := ut - idle; rest > 0 {
			probes = max(1, int64((rest+intvl-1)/intvl))
		}
	}
	n := big.NewInt(probes)
	want.Idle = sat(sum(bigDur(idle), mul(bigDur(intvl), n)))
	want.IdleMin = sat(sum(bigDur(idle), bigDur(intvl)))
	want.IdleMax = sat(sum(bigDur(idle), linuxSlack(idle), mul(sum(bigDur(intvl), linuxSlack(intvl)), n)))

	rtoMax := first(sys.RTOMax, linuxCompiledIn.RTOMax)
	rto := first(sys.RTO, time.Second)
	late := func(d time.Duration) *big.Int { return sum(bigDur(d), linuxSlack(d)) }
	// From the write: up to a tail-loss probe and a retransmission, each one
	// late RTO, before the clock starts.
	start := mul(late(rto), big.NewInt(2))
	if ut > 0 {
		want.InFlightMin = ut
		// An ICMP unreachable re-arms the retransmission timer unclamped:
		// up to UserTimeout + RTO late, at most RTOMax.
		revert := ut + rto
		if revert > rtoMax || revert < ut { // or past the largest Duration
			revert = rtoMax
		}
		want.InFlightMax = sat(sum(bigDur(ut), late(revert), start))
		// A live peer's closed window: the first window probe one late RTO
		// after the write, then the user timeout.
		want.ZeroWindowMin = ut
		want.ZeroWindowMax = sat(sum(late(ut), late(rto)))
	} else {
		want.ZeroWindowMin, want.ZeroWindowMax = keepalive.Never, keepalive.Never
		// tcp_model_timeout: doubling from TCP_RTO_MIN up to RTOMax,
		// linear after; the budget is checked when a retransmission timer
		// fires, so up to one RTOMax and its slack later.
		retries := int64(min(first(time.Duration(sys.Retries2), time.Duration(linuxCompiledIn.Retries2)), 255)) // a u8
		thresh := int64(0)
		if q := rtoMax / linuxRTOMin; q > 0 {
			thresh = int64(bits.Len64(uint64(q))) - 1 // ilog2
		}
		var lo *big.Int
		if retries <= thresh {
			lo = mul(bigDur(linuxRTOMin), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(2), uint(retries)), big.NewInt(1)))
		} else {
			lo = sum(mul(bigDur(linuxRTOMin), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(2), uint(thresh)), big.NewInt(1))),
				mul(bigDur(rtoMax), big.NewInt(retries-thresh)))
		}
		want.InFlightMin = sat(lo)
		// Sent data: the budget, checked up to one late RTOMax past it.
		// Unsent data (own link down): retries+1 window-probe timers, each
		// late, doubling from max(RTO, TCP_RTO_MIN) up to RTOMax.
		sent := sum(lo, late(rtoMax), start)
		unsent, d := new(big.Int), bigDur(max(rto, linuxRTOMin))
		for range retries + 1 {
			if d.Cmp(bigDur(rtoMax)) > 0 {
				d = bigDur(rtoMax)
			}
			unsent.Add(unsent, sum(d, linuxSlack(time.Duration(d.Int64()))))
			d = mul(d, big.NewInt(2))
		}
		if sent.Cmp(unsent) < 0 {
			sent = unsent
		}
		want.InFlightMax = sat(sent)
	}
	return want, idle < year && intvl < year && rtoMax < year && rto < year
}

// linuxSlack is how late a Linux timer armed d ahead fires at most: the
// timer wheel rounds it up by at most 8/63 of d, plus one tick.
func linuxSlack(d time.Duration) *big.Int {
	x := mul(bigDur(d), big.NewInt(8))
	x.Add(x, big.NewInt(62)).Quo(x, big.NewInt(63))
	return x.Add(x, bigDur(linuxTick))
}

func FuzzWithin(f *testing.F) {
	skipUnlessLinux(f)
	s := time.Second
	for _, seed := range []struct {
		deadline, middlebox time.Duration
		sys                 keepalive.System
	}{
		{deadline: 3 * s},
		{deadline: 2 * s},
		{deadline: 2300 * time.Millisecond},
		{deadline: 30 * s, middlebox: 350 * s},
		{deadline: 5 * time.Minute, middlebox: 240 * s},
		{deadline: time.Hour, middlebox: 145 * s},
		{deadline: 2 * time.Hour},
		{deadline: 100 * time.Hour, middlebox: 1 << 62},
		{deadline: time.Minute, middlebox: 3 * s},
		{deadline: time.Minute, middlebox: 2 * s},
		{deadline: time.Minute, middlebox: -s},
		{deadline: time.Minute, middlebox: -1},
		{deadline: -s},
		{},
		{deadline: maxDur, middlebox: maxDur},
		{deadline: maxDur, middlebox: 1},
		{deadline: math.MinInt64, middlebox: math.MinInt64},
		{deadline: 10 * time.Minute, sys: keepalive.System{Idle: maxDur, Interval: maxDur, Count: math.MaxInt, Retries2: math.MaxInt, RTOMax: maxDur}},
		{deadline: 10 * s, sys: keepalive.System{Idle: s, Interval: s, Count: 1, Retries2: 1, RTOMax: s}},
	} {
		f.Add(append(fuzzSeed(int64(seed.deadline), int64(seed.middlebox)), systemSeed(seed.sys)...))
	}
	f.Fuzz(func(tt *testing.T, b []byte) {
		t := noHelper{tt}
		in := fuzzInts(b)
		deadline, middlebox := in.dur(), in.dur()
		sys := nonNegative(in.system())
		checkWithin(t, deadline, middlebox, sys)
		checkWithin(t, deadline%(100*time.Hour), middlebox%(3*time.Hour), sys) // keeps the sign
	})
}

// withinCase prints Within's case only when an assertion fails: formatting
// every case would slow the fuzzer down several times.
type withinCase struct {
	deadline, middlebox time.Duration
	c                   keepalive.Config
	detection           detectionCase
}

func (w withinCase) String() string {
	return fmt.Sprintf("Within(%v, %v) = %+v, under %v", w.deadline, w.middlebox, w.c, w.detection)
}

var shortestDeadline = regexp.MustCompile(`the shortest is about ([^)]+)\)`)

// checkWithin: Within's Config meets the deadline under any System, stays
// below the middlebox, and a longer deadline or a laxer middlebox never
// fails where this one worked.
func checkWithin(t require.TestingT, deadline, middlebox time.Duration, sys keepalive.System) {
	c, err := keepalive.Within(deadline, middlebox)
	if err != nil {
		assert.ErrorIs(t, err, syscall.EINVAL, "Linux can bound both cases: %v %v", deadline, middlebox)
		assert.Zero(t, c)
		if m := shortestDeadline.FindStringSubmatch(err.Error()); m != nil {
			// Rounded to 100 ms: 50 ms more is enough.
			shortest, perr := time.ParseDuration(m[1])
			require.NoError(t, perr, err.Error())
			assert.Less(t, deadline, shortest+50*time.Millisecond, "%v fails but the error says %v is possible", deadline, shortest)
			_, err := keepalive.Within(shortest+50*time.Millisecond, middlebox)
			assert.NoError(t, err, "the shortest deadline the error names works")
		}
		return
	}
	ctx := &withinCase{deadline, middlebox, c, detectionCase{sys: sys}}
	assert.True(t, deadline > 0, "%v", ctx)
	assert.True(t, middlebox >= 0, "a negative middlebox idle timeout is refused: %v", ctx)
	require.NoError(t, c.Validate(), "%v", ctx)
	assert.True(t, 1 <= c.Count && c.Count <= 3, "%v", ctx)

	sys.RTO = min(sys.RTO, time.Second)           // the promise is for an RTO of at most 1 s
	sys.RTOMax = min(sys.RTOMax, 120*time.Second) // and Linux's largest tcp_rto_max_ms
	d, err := c.Detection(sys)
	require.NoError(t, err, "%v", ctx)
	ctx.detection = detectionCase{c, sys, d}
	assert.True(t, d.IdleMax <= deadline && d.InFlightMax <= deadline && d.ZeroWindowMax <= deadline, "misses the deadline: %v", ctx)
	assert.Equal(t, c.Idle+time.Duration(c.Count)*c.Interval, d.Idle, "the user timeout keeps Count meaningful: %v", ctx)
	if middlebox > 0 {
		// Even a late idle or probe timer fires before the middlebox forgets.
		idle := sat(sum(bigDur(c.Idle), linuxSlack(c.Idle), bigDur(usedBefore)))
		intvl := sat(sum(bigDur(c.Interval), linuxSlack(c.Interval), bigDur(usedBefore)))
		assert.True(t, idle <= middlebox && intvl <= middlebox, "a late idle timer (%v) or probe timer (%v), with %v to spare, passes the middlebox: %v", idle, intvl, usedBefore, ctx)
	} else if deadline < 24*time.Hour {
		// Under the System Within plans for (the kernel's defaults, an RTO
		// of 1 s, RTOMax 120 s), not the one drawn here.
		planned, err := c.Detection(keepalive.System{})
		require.NoError(t, err, "%v", ctx)
		assert.True(t, max(planned.IdleMax, planned.InFlightMax) >= deadline/2, "the deadline is used, not wasted: %v, planned %+v", ctx, planned)
		assert.True(t, c.Idle >= c.Interval, "Idle gets the most: %v", ctx)
	}

	if deadline <= maxDur-time.Second {
		_, err := keepalive.Within(deadline+time.Second, middlebox)
		assert.NoError(t, err, "a longer deadline: %v", ctx)
	}
	if middlebox > 0 {
		_, err := keepalive.Within(deadline, 0)
		assert.NoError(t, err, "no middlebox: %v", ctx)
		if middlebox <= maxDur-time.Second {
			_, err := keepalive.Within(deadline, middlebox+time.Second)
			assert.NoError(t, err, "a laxer middlebox: %v", ctx)
		}
	}
}

func FuzzNetConfig(f *testing.F) {
	s := time.Second
	for _, seed := range []struct {
		c keepalive.Config
		k net.KeepAliveConfig
	}{
		{},
		{c: keepalive.Config{Idle: 7 * s, Interval: 3 * s}, k: net.KeepAliveConfig{Enable: true}},
		{c: keepalive.Config{Idle: 30 * s, Count: 4}, k: net.KeepAliveConfig{Enable: true, Idle: 0, Interval: -1, Count: 3}},
		{c: keepalive.Config{Idle: s, Interval: s, Count: 9, UserTimeout: s}, k: net.KeepAliveConfig{Enable: true, Idle: 15 * s, Interval: 15 * s, Count: 9}},
		{c: keepalive.Config{Idle: -1, Interval: -s, Count: -1, UserTimeout: -1}, k: net.KeepAliveConfig{Idle: -1, Interval: -1, Count: -1}},
		{c: keepalive.Config{Idle: maxDur, Interval: maxDur, Count: math.MaxInt, UserTimeout: maxDur}, k: net.KeepAliveConfig{Enable: true, Idle: maxDur, Interval: maxDur, Count: math.MaxInt}},
		{c: keepalive.Config{Idle: math.MinInt64, Count: math.MinInt}, k: net.KeepAliveConfig{Enable: true, Idle: math.MinInt64, Interval: math.MinInt64, Count: math.MinInt}},
		{c: keepalive.Config{Idle: 1, Interval: 1, Count: 1}, k: net.KeepAliveConfig{Enable: true, Idle: 1, Interval: 1, Count: 1}},
	} {
		enable := int64(0)
		if seed.k.Enable {
			enable = 1
		}
		f.Add(append(configSeed(seed.c), fuzzSeed(enable, int64(seed.k.Idle), int64(seed.k.Interval), int64(seed.k.Count))...))
	}
	f.Fuzz(func(tt *testing.T, b []byte) {
		t := noHelper{tt}
		in := fuzzInts(b)
		c := in.config()
		k := net.KeepAliveConfig{Enable: in.next()&1 == 1, Idle: in.dur(), Interval: in.dur(), Count: in.int()}
		checkToNet(t, c)
		checkToNet(t, foldConfig(c, false))
		checkFromNet(t, k)
	})
}

// checkToNet: NetConfig asks for the same values, a zero field for the
// system's (negative in net.KeepAliveConfig), never for Go's defaults (zero
// there), and FromNetConfig gives c back.
func checkToNet(t require.TestingT, c keepalive.Config) {
	k, ok := c.NetConfig()
	assert.Equal(t, c.UserTimeout == 0, ok, "ok unless UserTimeout is set: %+v", c)
	assert.True(t, k.Enable, "%+v", c)
	for _, f := range []struct {
		name string
		c, k int64
	}{
		{"Idle", int64(c.Idle), int64(k.Idle)},
		{"Interval", int64(c.Interval), int64(k.Interval)},
		{"Count", int64(c.Count), int64(k.Count)},
	} {
		assert.NotZero(t, f.k, "%s of %+v -> %+v: zero would be Go's default", f.name, c, k)
		switch {
		case f.c == 0:
			assert.Negative(t, f.k, "%s of %+v -> %+v: the system's value", f.name, c, k)
		case f.c > 0:
			assert.Equal(t, f.c, f.k, "%s of %+v -> %+v", f.name, c, k)
		}
	}
	if c.Idle < 0 || c.Interval < 0 || c.Count < 0 {
		return // invalid, and the same as zero to net
	}
	back, ok := keepalive.FromNetConfig(k)
	assert.True(t, ok, "%+v -> %+v", c, k)
	want := c
	want.UserTimeout = 0
	assert.Equal(t, want, back, "round trip through %+v", k)
}

// checkFromNet: FromNetConfig reads net.KeepAliveConfig as Go does, zero
// its default (15 s, 15 s, 9) and negative the system's value, and
// NetConfig gives back one that Go reads the same way.
func checkFromNet(t require.TestingT, k net.KeepAliveConfig) {
	c, ok := keepalive.FromNetConfig(k)
	assert.Equal(t, k.Enable, ok, "%+v", k)
	goReads := func(v, goDefault int64) int64 {
		switch {
		case v == 0:
			return goDefault
		case v < 0:
			return -1 // the system's
		}
		return v
	}
	asGo := func(k net.KeepAliveConfig) [3]int64 {
		return [3]int64{goReads(int64(k.Idle), int64(15*time.Second)), goReads(int64(k.Interval), int64(15*time.Second)), goReads(int64(k.Count), 9)}
	}
	want := asGo(k)
	for i, v := range want {
		want[i] = max(v, 0) // the system's is zero in a Config
	}
	assert.Equal(t, keepalive.Config{Idle: time.Duration(want[0]), Interval: time.Duration(want[1]), Count: int(want[2])}, c, "%+v", k)

	k2, ok := c.NetConfig()
	assert.True(t, ok, "%+v -> %+v", k, c)
	assert.True(t, k2.Enable)
	assert.Equal(t, asGo(k), asGo(k2), "%+v -> %+v -> %+v", k, c, k2)
}

// noHelper hides t's Helper method from testify, which calls it on every
// assertion, failing or not: its stack walk took most of a fuzz run's time.
// Failures still report the assertion's line.
type noHelper struct{ t testing.TB }

func (n noHelper) Errorf(format string, args ...any) { n.t.Helper(); n.t.Errorf(format, args...) }
func (n noHelper) FailNow()                          { n.t.FailNow() }

// skipUnlessLinux skips a target whose expected values are Linux's;
// platform_test.go checks every system's rules on any host.
func skipUnlessLinux(f *testing.F) {
	if runtime.GOOS != "linux" && runtime.GOOS != "android" {
		f.Skipf("Linux's rules through the API of a %s host; platform_test.go checks every system's", runtime.GOOS)
	}
}

// fuzzInts reads a fuzz input as little-endian int64s, zero past its end.
type fuzzInts []byte

func (b *fuzzInts) next() int64 {
	var v [8]byte
	*b = (*b)[copy(v[:], *b):]
	return int64(binary.LittleEndian.Uint64(v[:]))
}

func (b *fuzzInts) dur() time.Duration { return time.Duration(b.next()) }
func (b *fuzzInts) int() int           { return int(b.next()) }

func (b *fuzzInts) config() keepalive.Config {
	return keepalive.Config{Idle: b.dur(), Interval: b.dur(), Count: b.int(), UserTimeout: b.dur()}
}

func (b *fuzzInts) system() keepalive.System {
	return keepalive.System{Idle: b.dur(), Interval: b.dur(), Count: b.int(), Retries2: b.int(), RTOMax: b.dur(), RTO: b.dur()}
}

func fuzzSeed(vals ...int64) []byte {
	b := make([]byte, 0, 8*len(vals))
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b
}

func configSeed(c keepalive.Config) []byte {
	return fuzzSeed(int64(c.Idle), int64(c.Interval), int64(c.Count), int64(c.UserTimeout))
}

func systemSeed(s keepalive.System) []byte {
	return fuzzSeed(int64(s.Idle), int64(s.Interval), int64(s.Count), int64(s.Retries2), int64(s.RTOMax), int64(s.RTO))
}

// foldConfig maps c's fields into Linux's ranges, a negative one to zero
// (the system's value, or no user timeout), so that the fuzzer's mostly
// huge values still reach the valid half. beyond widens each range by a
// quarter, to probe the limits too.
func foldConfig(c keepalive.Config, beyond bool) keepalive.Config {
	keep, count, ut := int64(linuxKeepMax), int64(linuxCountMax), int64(linuxUTMax)
	if beyond {
		keep, count, ut = keep/4*5, count/4*5, ut/4*5
	}
	return keepalive.Config{
		Idle:        time.Duration(fold(int64(c.Idle), keep)),
		Interval:    time.Duration(fold(int64(c.Interval), keep)),
		Count:       int(fold(int64(c.Count), count)),
		UserTimeout: time.Duration(fold(int64(c.UserTimeout), ut)),
	}
}

// foldSystem maps sys's durations into [0, limit], Count and Retries2 into
// what sysctls hold.
func foldSystem(sys keepalive.System, limit time.Duration) keepalive.System {
	return keepalive.System{
		Idle:     time.Duration(fold(int64(sys.Idle), int64(limit))),
		Interval: time.Duration(fold(int64(sys.Interval), int64(limit))),
		Count:    int(fold(int64(sys.Count), 1000)),
		Retries2: int(fold(int64(sys.Retries2), 300)),
		RTOMax:   time.Duration(fold(int64(sys.RTOMax), int64(limit))),
		RTO:      time.Duration(fold(int64(sys.RTO), int64(limit))),
	}
}

// fold maps v to 0 if negative, else into [0, limit].
func fold(v, limit int64) int64 {
	if v < 0 {
		return 0
	}
	return v % (limit + 1)
}

// nonNegative flips each negative field's bits: huge values stay huge.
func nonNegative(s keepalive.System) keepalive.System {
	pos := func(v int64) int64 {
		if v < 0 {
			return ^v
		}
		return v
	}
	return keepalive.System{
		Idle:     time.Duration(pos(int64(s.Idle))),
		Interval: time.Duration(pos(int64(s.Interval))),
		Count:    int(pos(int64(s.Count))),
		Retries2: int(pos(int64(s.Retries2))),
		RTOMax:   time.Duration(pos(int64(s.RTOMax))),
		RTO:      time.Duration(pos(int64(s.RTO))),
	}
}

// roundUpTo rounds a valid (small, non-negative) d up to unit.
func roundUpTo(d, unit time.Duration) time.Duration { return (d + unit - 1) / unit * unit }

func bigDur(d time.Duration) *big.Int { return big.NewInt(int64(d)) }

func sum(xs ...*big.Int) *big.Int {
	s := new(big.Int)
	for _, x := range xs {
		s.Add(s, x)
	}
	return s
}

func mul(x, y *big.Int) *big.Int { return new(big.Int).Mul(x, y) }

// sat is x as a Duration, saturated as the model promises.
func sat(x *big.Int) time.Duration {
	if x.IsInt64() {
		return time.Duration(x.Int64())
	}
	return maxDur
}
