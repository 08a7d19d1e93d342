package keepalive_test

import (
	"errors"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
)

// The example: dead within 30 s behind a 350 s load balancer.
func TestPlan(t *testing.T) {
	t.Parallel()
	l, err := keepalive.Plan(30*time.Second, 350*time.Second)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("Within is unsupported here: %v", err)
	}
	require.NoError(t, err)
	tcp, err := keepalive.Within(30*time.Second, 350*time.Second)
	require.NoError(t, err)
	assert.Equal(t, tcp, l.TCP)
	assert.Equal(t, keepalive.Heartbeat{Interval: 18 * time.Second, Timeout: 10 * time.Second}, l.Heartbeat)
	for name, h := range map[string]http.HTTP2Config{"transport": l.HTTP2Transport, "server": l.HTTP2Server} {
		assert.Equal(t, 18*time.Second, h.SendPingTimeout, name)
		assert.Equal(t, 10*time.Second, h.PingTimeout, name)
		assert.Equal(t, 28*time.Second, h.WriteByteTimeout, name)
	}
	for name, d := range map[string]time.Duration{
		"TCP idle": l.TCPDetection.IdleMax, "TCP in flight": l.TCPDetection.InFlightMax, "TCP zero window": l.TCPDetection.ZeroWindowMax,
		"heartbeat": l.HeartbeatDetection.IdleMax, "HTTP/2": l.HTTP2Max,
	} {
		assert.LessOrEqual(t, d, 30*time.Second, name) // zero where not modelled (Windows' in flight)
	}
	assert.Positive(t, l.TCPDetection.IdleMax)
	assert.Positive(t, l.HTTP2Max)

	_, err = keepalive.Plan(time.Second, 0)
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = keepalive.Plan(30*time.Second, -1)
	assert.ErrorIs(t, err, syscall.EINVAL)
}

// Every deadline from 3 s up gets pings in whole seconds whose worst case
// meets it, with the interval asked for; shorter ones fail, naming the
// shortest.
func TestPingsWithin(t *testing.T) {
	t.Parallel()
	for _, min := range []time.Duration{0, 10 * time.Second} {
		for d := 3 * time.Second; d < 3*time.Hour; d += d/7 + 130*time.Millisecond {
			h, err := keepalive.PingsWithin(d, min)
			if d < 12*time.Second && min > 0 {
				assert.ErrorIs(t, err, syscall.EINVAL, "%v", d)
				continue
			}
			require.NoError(t, err, "%v", d)
			det, err := h.Detection()
			require.NoError(t, err)
			assert.LessOrEqual(t, det.IdleMax, d, "%v: %+v", d, h)
			assert.GreaterOrEqual(t, h.Interval, max(min, time.Second), "%v", d)
			assert.GreaterOrEqual(t, h.Timeout, time.Second, "%v", d)
			assert.LessOrEqual(t, h.Timeout, max(time.Second, d/3), "%v", d)
			assert.Zero(t, h.Interval%time.Second+h.Timeout%time.Second, "%v: %+v", d, h)
		}
	}
	for _, d := range []time.Duration{-time.Second, 0, time.Second, 2 * time.Second} {
		_, err := keepalive.PingsWithin(d, 0)
		assert.ErrorIs(t, err, syscall.EINVAL, "%v", d)
	}
	_, err := keepalive.PingsWithin(11*time.Second, 10*time.Second)
	assert.ErrorContains(t, err, "keepalive: PingsWithin: a deadline of 11s is too short for pings at least 10s apart with a timeout of at least 1s (the shortest is 11.44375s): ")
}
