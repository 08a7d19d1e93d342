//go:build linux

package keepalive_test

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// schedSlack covers the scheduler and the race detector on a loaded 2-core
// machine: the time between the kernel failing the socket and the test
// seeing the failing Read.
const schedSlack = 300 * time.Millisecond

// jiffy covers the kernel stamping the last received segment in whole
// jiffies (1 ms at HZ 1000), which can put its timers up to 1 ms before
// our wall-clock start.
const jiffy = 2 * time.Millisecond

// Idle connection, dead peer: the Read fails with ETIMEDOUT between the
// model and the worst case.
func TestDetectIdle(t *testing.T) {
	t.Parallel()
	s := time.Second
	for _, tc := range []struct {
		name string
		cfg  keepalive.Config
	}{
		{"count", keepalive.Config{Idle: s, Interval: s, Count: 3}},
		{"count 1", keepalive.Config{Idle: 2 * s, Interval: s, Count: 1}},
		{"user timeout k=2", keepalive.Config{Idle: s, Interval: s, Count: 9, UserTimeout: 2500 * time.Millisecond}},
		{"user timeout below idle", keepalive.Config{Idle: 2 * s, Interval: s, Count: 9, UserTimeout: 500 * time.Millisecond}},
		{"user timeout long interval", keepalive.Config{Idle: s, Interval: 2 * s, Count: 9, UserTimeout: 4500 * time.Millisecond}},
	} {
		for _, lb := range testkit.Loopbacks(t) {
			t.Run(tc.name+"/"+lb.Network, func(t *testing.T) {
				t.Parallel()
				model, worst := tc.cfg.DetectionTime(), tc.cfg.WorstCaseDetectionTime()
				start := time.Now() // before the handshake, so before the last segment received
				client, server := testkit.Pair(t, lb, nil, tc.cfg.Dial)
				require.NoError(t, testkit.Silence(server))
				took, err := testkit.ReadFailure(client, start, worst+schedSlack)
				require.ErrorIs(t, err, syscall.ETIMEDOUT, "after %v (model %v)", took, model)
				assert.GreaterOrEqual(t, took, model-jiffy, "never before the model")
				assert.LessOrEqual(t, took, worst+schedSlack)
				t.Logf("model %v, measured %v, worst case %v", model, took, worst)
			})
		}
	}
}

// Data in flight, dead peer: keepalive is silent, UserTimeout decides,
// counted from the first retransmission (one RTO, 200 ms on loopback, plus
// a tail-loss probe after the write).
func TestDetectInFlight(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  keepalive.Config
	}{
		{"user timeout", keepalive.Config{UserTimeout: 1500 * time.Millisecond}},
		{"user timeout with keepalive", keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 1, UserTimeout: 2 * time.Second}},
	} {
		for _, lb := range testkit.Loopbacks(t) {
			t.Run(tc.name+"/"+lb.Network, func(t *testing.T) {
				t.Parallel()
				lo, hi := tc.cfg.InFlightDetectionTime()
				client, server := testkit.Pair(t, lb, nil, tc.cfg.Dial)
				require.NoError(t, testkit.Silence(server))
				start := time.Now()
				_, err := client.Write([]byte("are you there?"))
				require.NoError(t, err)
				const firstRetransmission = time.Second // RTO 200 ms + tail-loss probe, with room
				took, err := testkit.ReadFailure(client, start, hi+firstRetransmission+schedSlack)
				require.ErrorIs(t, err, syscall.ETIMEDOUT, "after %v (model %v)", took, lo)
				assert.GreaterOrEqual(t, took, lo, "never before the model")
				assert.LessOrEqual(t, took, hi+firstRetransmission+schedSlack)
				t.Logf("model %v from the first retransmission, measured %v from the write", lo, took)
			})
		}
	}
}

// The control case: without the library (Go's own 15 s keepalive) the same
// dead peer is not detected within a bound several times the Config's.
func TestWithoutConfigStillHanging(t *testing.T) {
	t.Parallel()
	cfg := keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 1}
	bound := 3 * cfg.WorstCaseDetectionTime()
	lb := testkit.Loopbacks(t)[0]
	client, server := testkit.Pair(t, lb, nil, (&net.Dialer{}).DialContext)
	require.NoError(t, testkit.Silence(server))
	took, err := testkit.ReadFailure(client, time.Now(), bound)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "still open after %v", took)
}

// In a private network namespace (root): the tcp_retries2 path with data in
// flight and no UserTimeout, measured against the model read from the
// lowered sysctl.
func TestDetectInFlightRetries2(t *testing.T) {
	t.Parallel()
	if !testkit.InNetNS(t, map[string]string{"net/ipv4/tcp_retries2": "3"}) {
		return
	}
	r, err := keepalive.SystemRetransmission()
	require.NoError(t, err)
	require.Equal(t, 3, r.Retries2)
	lo, hi := keepalive.Config{}.InFlightDetectionTime()
	require.Equal(t, 3*time.Second, lo, "(2^4-1) * 200ms")
	for _, lb := range testkit.Loopbacks(t) {
		t.Run(lb.Network, func(t *testing.T) {
			t.Parallel()
			client, server := testkit.Pair(t, lb, nil, keepalive.Config{Idle: 60 * time.Second}.Dial)
			require.NoError(t, testkit.Silence(server))
			start := time.Now()
			_, err := client.Write([]byte("are you there?"))
			require.NoError(t, err)
			// On loopback the RTO starts at 200 ms and doubles: the timer that
			// sees the 3 s budget spent fires at R1 + 6 s, about 6.6 s after
			// the write. The model's upper bound (budget + RTOMax) is far above.
			took, err := testkit.ReadFailure(client, start, 15*time.Second)
			require.ErrorIs(t, err, syscall.ETIMEDOUT, "after %v", took)
			assert.GreaterOrEqual(t, took, lo)
			assert.Less(t, took, hi)
			t.Logf("model [%v, %v) from the first retransmission, measured %v from the write", lo, hi, took)
		})
	}
}

// In a private network namespace (root): SystemDefaults, the model and the
// kernel all follow changed sysctls, and a zero Config gets them.
func TestSystemDefaultsFollowSysctls(t *testing.T) {
	t.Parallel()
	if !testkit.InNetNS(t, map[string]string{
		"net/ipv4/tcp_keepalive_time":   "2",
		"net/ipv4/tcp_keepalive_intvl":  "1",
		"net/ipv4/tcp_keepalive_probes": "2",
		"net/ipv4/tcp_retries2":         "7",
	}) {
		return
	}
	d, err := keepalive.SystemDefaults()
	require.NoError(t, err)
	assert.Equal(t, keepalive.Config{Idle: 2 * time.Second, Interval: time.Second, Count: 2}, d)
	r, err := keepalive.SystemRetransmission()
	require.NoError(t, err)
	assert.Equal(t, 7, r.Retries2)

	zero := keepalive.Config{}
	assert.Equal(t, 4*time.Second, zero.DetectionTime())
	assert.Equal(t, 6*time.Second, keepalive.Config{Interval: 2 * time.Second}.DetectionTime())

	lb := testkit.Loopbacks(t)[0]
	start := time.Now()
	client, server := testkit.Pair(t, lb, nil, zero.Dial)
	got, err := keepalive.Inspect(client)
	require.NoError(t, err)
	assert.Equal(t, d, got)
	require.NoError(t, testkit.Silence(server))
	took, err := testkit.ReadFailure(client, start, zero.WorstCaseDetectionTime()+schedSlack)
	require.ErrorIs(t, err, syscall.ETIMEDOUT)
	assert.GreaterOrEqual(t, took, zero.DetectionTime()-jiffy)
	t.Logf("Config{} with sysctls 2/1/2: model %v, measured %v", zero.DetectionTime(), took)
}
