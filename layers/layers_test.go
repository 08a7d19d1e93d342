package layers_test

import (
	"errors"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/heartbeat"
	"github.com/keepalive-go/keepalive/layers"
)

// The example: dead within 30 s behind a 350 s load balancer.
func TestPlan(t *testing.T) {
	t.Parallel()
	l, err := layers.Within(30*time.Second, 350*time.Second)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("Within is unsupported here: %v", err)
	}
	require.NoError(t, err)
	tcp, err := keepalive.Within(30*time.Second, 350*time.Second)
	require.NoError(t, err)
	assert.Equal(t, tcp, l.TCP)
	assert.Equal(t, heartbeat.Config{Interval: 18 * time.Second, Timeout: 10 * time.Second}, l.Heartbeat)
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

	_, err = layers.Within(time.Second, 0)
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = layers.Within(30*time.Second, -1)
	assert.ErrorIs(t, err, syscall.EINVAL)
}

// The heartbeat pings more often than the middlebox forgets a flow, with
// the scheduler's slack: Within(8s, 5s) once pinged every 5 s, as long as
// the middlebox's idle timeout.
func TestWithinMiddlebox(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ deadline, idle time.Duration }{
		{8 * time.Second, 5 * time.Second}, {30 * time.Second, 10 * time.Second},
		{time.Minute, 350 * time.Second}, {time.Hour, 61 * time.Second},
	} {
		p, err := layers.Within(c.deadline, c.idle)
		if errors.Is(err, errors.ErrUnsupported) {
			t.Skipf("Within is unsupported here: %v", err)
		}
		require.NoError(t, err, "%+v", c)
		i := p.Heartbeat.Interval
		assert.Less(t, i+heartbeat.Slack(i), c.idle, "%+v: %+v", c, p.Heartbeat)
		assert.LessOrEqual(t, p.HeartbeatDetection.IdleMax, c.deadline, "%+v", c)
		assert.Equal(t, i, p.HTTP2Transport.SendPingTimeout, "%+v", c)
	}
	_, err := layers.Within(30*time.Second, time.Second)
	assert.ErrorIs(t, err, syscall.EINVAL, "below a 1 s idle timeout")
}
