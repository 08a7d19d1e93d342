package keepalive_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
)

// These tests are pure: they run on every OS (the Linux rules are what they
// check; the other systems are refused until they get their own).

func TestDetectionTime(t *testing.T) {
	t.Parallel()
	s := time.Second
	ms := time.Millisecond
	for _, tc := range []struct {
		name      string
		cfg       keepalive.Config
		want      time.Duration
		worstCase time.Duration
	}{
		// Idle + Count*Interval: measured 4.09-4.10 s for 1/1/3.
		{"count", keepalive.Config{Idle: s, Interval: s, Count: 3}, 4 * s, 4*s + 4*64*ms},
		{"linux defaults", keepalive.Config{Idle: 7200 * s, Interval: 75 * s, Count: 9}, 7875 * s,
			7875*s + 262144*ms + 9*4096*ms},
		{"rounded up", keepalive.Config{Idle: 1500 * ms, Interval: 1001 * ms, Count: 2}, 6 * s, 6*s + 3*64*ms},
		// With UserTimeout: Idle + k*Interval, k = max(1, ceil((UT-Idle)/Interval)).
		{"user timeout k=2", keepalive.Config{Idle: s, Interval: s, Count: 9, UserTimeout: 2500 * ms}, 3 * s, 3*s + 3*64*ms},
		{"user timeout below idle", keepalive.Config{Idle: 2 * s, Interval: s, Count: 9, UserTimeout: 500 * ms}, 3 * s, 3*s + 2*64*ms},
		{"user timeout k=2 long interval", keepalive.Config{Idle: s, Interval: 2 * s, Count: 9, UserTimeout: 4500 * ms}, 5 * s, 5*s + 3*64*ms},
		{"user timeout exact multiple", keepalive.Config{Idle: 10 * s, Interval: 5 * s, Count: 1, UserTimeout: 25 * s}, 25 * s, 25*s + 4*512*ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.cfg.DetectionTime())
			assert.Equal(t, tc.worstCase, tc.cfg.WorstCaseDetectionTime())
		})
	}
}

func TestDetectionTimeZeroFieldsTakeDefaults(t *testing.T) {
	t.Parallel()
	d := keepalive.Config{Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 4}
	c := keepalive.Config{Interval: 2 * time.Second}.WithDefaults(d)
	assert.Equal(t, keepalive.Config{Idle: 30 * time.Second, Interval: 2 * time.Second, Count: 4}, c)
	assert.Equal(t, 38*time.Second, c.DetectionTime())
}

func TestInFlightDetectionTimeWithUserTimeout(t *testing.T) {
	t.Parallel()
	lo, hi := keepalive.Config{UserTimeout: 1500*time.Millisecond + 1}.InFlightDetectionTime()
	assert.Equal(t, 1501*time.Millisecond, lo, "rounded up to whole milliseconds")
	assert.Equal(t, 1501*time.Millisecond+64*time.Millisecond, hi)
}

func TestRetransmissionTimeout(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	for _, tc := range []struct {
		r      keepalive.Retransmission
		lo, hi time.Duration
	}{
		{keepalive.Retransmission{Retries2: 15, RTOMax: 120 * time.Second}, 924600 * ms, 1044600 * ms},
		{keepalive.Retransmission{Retries2: 3, RTOMax: 120 * time.Second}, 3000 * ms, 123000 * ms},
		{keepalive.Retransmission{Retries2: 5, RTOMax: 120 * time.Second}, 12600 * ms, 132600 * ms},
		{keepalive.Retransmission{Retries2: 9, RTOMax: 120 * time.Second}, 204600 * ms, 324600 * ms},
		{keepalive.Retransmission{Retries2: 10, RTOMax: 120 * time.Second}, 324600 * ms, 444600 * ms},
		// rto_max 60 s: thresh = ilog2(300) = 8.
		{keepalive.Retransmission{Retries2: 10, RTOMax: 60 * time.Second}, 102200*ms + 2*60000*ms, 102200*ms + 3*60000*ms},
		{keepalive.Retransmission{Retries2: 15}, 924600 * ms, 1044600 * ms}, // RTOMax unknown: 120 s
	} {
		lo, hi := tc.r.Timeout()
		assert.Equal(t, tc.lo, lo, "%+v", tc.r)
		assert.Equal(t, tc.hi, hi, "%+v", tc.r)
	}
}

func TestRounded(t *testing.T) {
	t.Parallel()
	if !supported(t) {
		return
	}
	c := keepalive.Config{Idle: 1500 * time.Millisecond, Interval: 3 * time.Second, Count: 4, UserTimeout: 1500 * time.Microsecond}
	assert.Equal(t, keepalive.Config{Idle: 2 * time.Second, Interval: 3 * time.Second, Count: 4, UserTimeout: 2 * time.Millisecond}, c.Rounded())
	assert.Equal(t, keepalive.Config{}, keepalive.Config{}.Rounded())
}

func TestValidate(t *testing.T) {
	t.Parallel()
	if !supported(t) {
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
	if !supported(t) {
		return
	}
	for _, tc := range []struct{ deadline, middlebox time.Duration }{
		{3 * time.Second, 0},
		{10 * time.Second, 0},
		{30 * time.Second, 0},
		{30 * time.Second, 350 * time.Second},
		{5 * time.Minute, 350 * time.Second},
		{10 * time.Minute, 240 * time.Second},
		{2 * time.Hour, 0},
		{100 * time.Hour, 0}, // beyond what TCP_KEEPIDLE/TCP_KEEPINTVL hold: met early
	} {
		c, err := keepalive.Within(tc.deadline, tc.middlebox)
		require.NoError(t, err, "%v %v", tc.deadline, tc.middlebox)
		require.NoError(t, c.Validate())
		assert.LessOrEqual(t, c.WorstCaseDetectionTime(), tc.deadline, "%+v", c)
		_, inFlight := c.InFlightDetectionTime()
		assert.LessOrEqual(t, inFlight, tc.deadline, "%+v", c)
		assert.Equal(t, c.Idle+time.Duration(c.Count)*c.Interval, c.DetectionTime(), "UserTimeout keeps Count meaningful: %+v", c)
		if tc.middlebox > 0 {
			assert.LessOrEqual(t, c.Idle, tc.middlebox-tc.middlebox/10, "a tenth of the middlebox timeout stays free: %+v", c)
			assert.LessOrEqual(t, c.Interval, tc.middlebox-tc.middlebox/10, "%+v", c)
		} else if tc.deadline < 24*time.Hour {
			// The deadline is used, not wasted: at least half of it.
			assert.GreaterOrEqual(t, c.WorstCaseDetectionTime(), tc.deadline/2, "%+v", c)
		}
	}
	for _, tc := range []struct{ deadline, middlebox time.Duration }{
		{2 * time.Second, 0}, {0, 0}, {-time.Second, 0}, {time.Minute, time.Second},
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

// supported reports whether this OS applies Configs; elsewhere it checks
// that Validate says so clearly.
func supported(t *testing.T) bool {
	err := keepalive.Config{}.Validate()
	if err == nil {
		return true
	}
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	return false
}
