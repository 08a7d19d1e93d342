package keepalive_test

import (
	"math"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
)

// These tests are pure, through the exported API on a Linux host; the rules
// of every other system are checked on any host in platform_test.go.

// slack is the documented per-timer bound: 8/63 of the timer, rounded up,
// plus a 10 ms tick.
func slack(d time.Duration) time.Duration { return (d*8+62)/63 + 10*time.Millisecond }

func TestDetectionTime(t *testing.T) {
	t.Parallel()
	s := time.Second
	ms := time.Millisecond
	if !onLinux(t) {
		return
	}
	for _, tc := range []struct {
		name           string
		cfg            keepalive.Config
		want, earliest time.Duration
		timers         int // probe timers after the idle timer
		rounds         bool
	}{
		// Idle + Count*Interval: measured 4.09 s for 1/1/3.
		{name: "count", cfg: keepalive.Config{Idle: s, Interval: s, Count: 3}, want: 4 * s, timers: 3},
		{name: "linux defaults", cfg: keepalive.Config{Idle: 7200 * s, Interval: 75 * s, Count: 9}, want: 7875 * s, timers: 9},
		{name: "rounded up", cfg: keepalive.Config{Idle: 1500 * ms, Interval: 1001 * ms, Count: 2}, want: 6 * s, timers: 2, rounds: true},
		// With UserTimeout: Idle + k*Interval, k = max(1, ceil((UT-Idle)/Interval)).
		{name: "user timeout k=2", cfg: keepalive.Config{Idle: s, Interval: s, Count: 9, UserTimeout: 2500 * ms}, want: 3 * s, timers: 2},
		{name: "user timeout below idle", cfg: keepalive.Config{Idle: 2 * s, Interval: s, Count: 9, UserTimeout: 500 * ms}, want: 3 * s, timers: 1},
		{name: "user timeout long interval", cfg: keepalive.Config{Idle: s, Interval: 2 * s, Count: 9, UserTimeout: 4500 * ms}, want: 5 * s, timers: 2},
		{name: "user timeout on a probe", cfg: keepalive.Config{Idle: 10 * s, Interval: 5 * s, Count: 1, UserTimeout: 25 * s}, want: 25 * s, timers: 3},
		// Just above the first probe: a late timer ends it at UserTimeout
		// (measured 2.03-2.06 s), on time one probe later.
		{name: "user timeout just above a probe", cfg: keepalive.Config{Idle: s, Interval: s, UserTimeout: 2010 * ms}, want: 3 * s, earliest: 2010 * ms, timers: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.earliest == 0 {
				tc.earliest = tc.want
			}
			r := tc.cfg.Rounded()
			d := model(t, tc.cfg)
			assert.Equal(t, tc.want, d.Idle)
			assert.Equal(t, tc.earliest, d.IdleMin)
			assert.Equal(t, tc.want+slack(r.Idle)+time.Duration(tc.timers)*slack(r.Interval), d.IdleMax)
		})
	}
}

// IdleMin against a probe-by-probe walk of the kernel's
// timers, each as late as it can be.
func TestEarliestDetectionTimeWalk(t *testing.T) {
	t.Parallel()
	if !onLinux(t) {
		return
	}
	s := time.Second
	for idle := s; idle <= 4*s; idle += s {
		for intvl := s; intvl <= 3*s; intvl += s {
			for ut := time.Duration(0); ut <= 12*s; ut += 50 * time.Millisecond {
				c := keepalive.Config{Idle: idle, Interval: intvl, Count: 3, UserTimeout: ut}
				d := model(t, c)
				want := d.Idle
				if ut > 0 {
					late := slack(idle)
					for fire := idle; ; {
						fire += intvl
						late += slack(intvl)
						if fire >= want {
							break
						}
						if fire+late >= ut {
							want = max(ut, fire)
							break
						}
					}
				}
				assert.Equal(t, want, d.IdleMin, "%+v", c)
				assert.LessOrEqual(t, d.IdleMin, d.Idle)
			}
		}
	}
}

func TestTimerSlackCoversTheWheel(t *testing.T) {
	t.Parallel()
	if !onLinux(t) {
		return
	}
	// The real rounding of kernel/time/timer.c, for the HZ values Linux
	// builds with: a timer of d ticks goes to the first level n whose range
	// holds it (level n starts at 63*8^(n-1) ticks) and is rounded up to
	// 8^n ticks, then fires on the next tick.
	wheel := func(d time.Duration, hz int64) time.Duration {
		tickNs := int64(time.Second) / hz
		ticks := (int64(d) + tickNs - 1) / tickNs
		gran := int64(1)
		for start := int64(63); ticks >= start; start *= 8 {
			gran *= 8
		}
		return time.Duration((gran + 1) * tickNs)
	}
	for _, hz := range []int64{100, 250, 300, 1000} {
		for d := 10 * time.Millisecond; d < 100*time.Hour; d = d*9/8 + time.Millisecond {
			c := keepalive.Config{Idle: d, Interval: d, Count: 1}
			if c.Validate() != nil {
				continue // beyond TCP_KEEPIDLE's range
			}
			worst := model(t, c).IdleMax - 2*c.Rounded().Idle
			assert.GreaterOrEqual(t, worst, 2*wheel(c.Rounded().Idle, hz), "HZ %d, %v", hz, d)
		}
	}
}

func TestDetectionZeroFieldsTakeTheSystem(t *testing.T) {
	t.Parallel()
	if !onLinux(t) {
		return
	}
	sys := keepalive.System{Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 4}
	d, err := keepalive.Config{Interval: 2 * time.Second}.Detection(sys)
	require.NoError(t, err)
	assert.Equal(t, 38*time.Second, d.Idle)
	d, err = keepalive.Config{}.Detection(keepalive.System{})
	require.NoError(t, err)
	assert.Equal(t, 7875*time.Second, d.Idle, "a zero System is Linux's compiled-in 7200 s, 75 s, 9")
	assert.Equal(t, 924600*time.Millisecond, d.InFlightMin, "and tcp_retries2 15")
	_, err = keepalive.Config{}.Detection(keepalive.System{Count: -1})
	assert.ErrorIs(t, err, syscall.EINVAL)
}

func TestDetectionInFlightWithUserTimeout(t *testing.T) {
	t.Parallel()
	if !onLinux(t) {
		return
	}
	d := model(t, keepalive.Config{UserTimeout: 1500*time.Millisecond + 1})
	assert.Equal(t, 1501*time.Millisecond, d.InFlightMin, "rounded up to whole milliseconds")
	// From the write: up to two late RTOs of 1 s first; then, if an ICMP
	// unreachable re-armed the timer unclamped, up to UserTimeout + RTO late.
	assert.Equal(t, 1501*time.Millisecond+2501*time.Millisecond+slack(2501*time.Millisecond)+2*(time.Second+slack(time.Second)), d.InFlightMax)
}

// The model saturates instead of wrapping around, and refuses a Config the
// kernel would refuse.
func TestDetectionSaturatesAndValidates(t *testing.T) {
	t.Parallel()
	if !onLinux(t) {
		return
	}
	_, err := keepalive.Config{Idle: math.MaxInt64, Interval: time.Second, Count: 1}.Detection(keepalive.System{})
	assert.ErrorIs(t, err, syscall.EINVAL, "beyond TCP_KEEPIDLE's range")
	d := model(t, keepalive.Config{UserTimeout: math.MaxInt32 * time.Millisecond})
	assert.Greater(t, d.InFlightMax, d.InFlightMin)
	d, err = keepalive.Config{}.Detection(keepalive.System{Idle: math.MaxInt64, Interval: math.MaxInt64, Count: math.MaxInt, Retries2: math.MaxInt, RTOMax: math.MaxInt64})
	require.NoError(t, err)
	for _, v := range []time.Duration{d.Idle, d.IdleMin, d.IdleMax, d.InFlightMin, d.InFlightMax} {
		assert.Equal(t, time.Duration(math.MaxInt64), v, "%+v", d)
	}
}

// model is the Detection of c with Linux's compiled-in system values.
func model(t *testing.T, c keepalive.Config) keepalive.Detection {
	t.Helper()
	d, err := c.Detection(keepalive.System{})
	require.NoError(t, err, "%+v", c)
	return d
}

func TestRounded(t *testing.T) {
	t.Parallel()
	if !onLinux(t) {
		return
	}
	c := keepalive.Config{Idle: 1500 * time.Millisecond, Interval: 3 * time.Second, Count: 4, UserTimeout: 1500 * time.Microsecond}
	assert.Equal(t, keepalive.Config{Idle: 2 * time.Second, Interval: 3 * time.Second, Count: 4, UserTimeout: 2 * time.Millisecond}, c.Rounded())
	assert.Equal(t, keepalive.Config{}, keepalive.Config{}.Rounded())
}

func TestValidate(t *testing.T) {
	t.Parallel()
	if !onLinux(t) {
		return
	}
	s := time.Second
	for _, c := range []keepalive.Config{
		{},
		{Idle: s, Interval: s, Count: 1},
		{Idle: 1, Interval: 1}, // rounds up to 1 s
		{Idle: 32767 * s, Interval: 32767 * s, Count: 127, UserTimeout: (1<<31 - 1) * time.Millisecond},
	} {
		assert.NoError(t, c.Validate(), "%+v", c)
	}
	for _, tc := range []struct {
		cfg  keepalive.Config
		want string
	}{
		{keepalive.Config{Idle: -s}, "Idle -1s outside 1s..32767s (TCP_KEEPIDLE"},
		{keepalive.Config{Idle: 32767*s + 1}, "Idle 9h6m7.000000001s outside 1s..32767s"},
		{keepalive.Config{Interval: -1}, "Interval -1ns outside 1s..32767s (TCP_KEEPINTVL"},
		{keepalive.Config{Interval: 40000 * s}, "Interval 11h6m40s outside 1s..32767s"},
		{keepalive.Config{Count: -1}, "Count -1 outside 1..127 (TCP_KEEPCNT)"},
		{keepalive.Config{Count: 128}, "Count 128 outside 1..127 (TCP_KEEPCNT)"},
		{keepalive.Config{UserTimeout: -1}, "UserTimeout -1ns outside 0..596h31m23.647s (TCP_USER_TIMEOUT"},
		{keepalive.Config{UserTimeout: 1<<31*time.Millisecond - time.Microsecond}, "UserTimeout 596h31m23.647999s outside"},
	} {
		err := tc.cfg.Validate()
		require.Error(t, err, "%+v", tc.cfg)
		assert.Contains(t, err.Error(), tc.want)
		assert.ErrorIs(t, err, syscall.EINVAL)
	}
}

func TestWithin(t *testing.T) {
	t.Parallel()
	if !onLinux(t) {
		return
	}
	for _, tc := range []struct{ deadline, middlebox time.Duration }{
		{8 * time.Second, 0},
		{10 * time.Second, 0},
		{30 * time.Second, 0},
		{30 * time.Second, 350 * time.Second},
		{5 * time.Minute, 350 * time.Second},
		{10 * time.Minute, 240 * time.Second},
		{time.Hour, 145 * time.Second},
		{time.Hour, 300 * time.Second},
		{time.Hour, 6000 * time.Second},
		{100 * time.Hour, 1 << 62}, // no overflow
		{time.Minute, 3 * time.Second},
		{2 * time.Hour, 0},
		{100 * time.Hour, 0}, // beyond what TCP_KEEPIDLE/TCP_KEEPINTVL hold: met early
	} {
		c, err := keepalive.Within(tc.deadline, tc.middlebox)
		require.NoError(t, err, "%v %v", tc.deadline, tc.middlebox)
		require.NoError(t, c.Validate())
		d := model(t, c)
		assert.LessOrEqual(t, d.IdleMax, tc.deadline, "%+v", c)
		assert.LessOrEqual(t, d.InFlightMax, tc.deadline, "%+v", c)
		assert.LessOrEqual(t, d.ZeroWindowMax, tc.deadline, "%+v", c)
		assert.Equal(t, c.Idle+time.Duration(c.Count)*c.Interval, d.Idle, "UserTimeout keeps Count meaningful: %+v", c)
		if tc.middlebox > 0 {
			assert.LessOrEqual(t, c.Idle+slack(c.Idle)+time.Second, tc.middlebox, "even a late idle timer fires before the middlebox forgets: %+v", c)
			assert.LessOrEqual(t, c.Interval+slack(c.Interval)+time.Second, tc.middlebox, "%+v", c)
		} else if tc.deadline < 24*time.Hour {
			// The deadline is used, not wasted: at least half of it.
			assert.GreaterOrEqual(t, max(d.IdleMax, d.InFlightMax), tc.deadline/2, "%+v", c)
			// Idle gets the most: a healthy connection is probed once per Idle.
			assert.GreaterOrEqual(t, c.Idle, c.Interval, "%+v", c)
		}
	}
	for _, tc := range []struct{ deadline, middlebox time.Duration }{
		{7 * time.Second, 0}, {0, 0}, {-time.Second, 0}, {time.Minute, time.Second}, {time.Minute, 2 * time.Second},
		{time.Minute, -time.Second}, // a negative middlebox idle timeout is refused, not taken as none
	} {
		_, err := keepalive.Within(tc.deadline, tc.middlebox)
		assert.ErrorIs(t, err, syscall.EINVAL, "%v %v", tc.deadline, tc.middlebox)
	}
}

func TestNetConfig(t *testing.T) {
	t.Parallel()
	k, ok := keepalive.Config{Idle: 30 * time.Second, Count: 4}.NetConfig()
	assert.True(t, ok)
	assert.Equal(t, net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: -1, Count: 4}, k)
	_, ok = keepalive.Config{UserTimeout: time.Second}.NetConfig()
	assert.False(t, ok, "UserTimeout has no net.KeepAliveConfig counterpart")

	c, ok := keepalive.FromNetConfig(net.KeepAliveConfig{Enable: true, Idle: 0, Interval: -1, Count: 3})
	assert.True(t, ok)
	assert.Equal(t, keepalive.Config{Idle: 15 * time.Second, Interval: 0, Count: 3}, c)
	_, ok = keepalive.FromNetConfig(net.KeepAliveConfig{})
	assert.False(t, ok)

	// A round trip keeps every value.
	orig := keepalive.Config{Idle: 7 * time.Second, Interval: 3 * time.Second}
	k, _ = orig.NetConfig()
	back, _ := keepalive.FromNetConfig(k)
	assert.Equal(t, orig, back)
}

// onLinux reports whether the host is Linux, whose numbers these tests
// check; elsewhere they are skipped, as platform_test.go checks each
// system's own rules.
func onLinux(t *testing.T) bool {
	if runtime.GOOS != "linux" {
		t.Skipf("the Linux rules through the API of a %s host; platform_test.go checks every system's", runtime.GOOS)
	}
	return true
}
