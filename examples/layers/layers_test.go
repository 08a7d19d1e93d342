package layers

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	grpckeepalive "google.golang.org/grpc/keepalive"

	"github.com/keepalive-go/keepalive"
)

// The issue's example: one call for "dead within 30 s behind a 350 s load
// balancer".
func TestWithin(t *testing.T) {
	t.Parallel()
	p, err := Within(30*time.Second, 350*time.Second)
	require.NoError(t, err)
	t.Logf("%+v", p)
	assert.Equal(t, grpckeepalive.ClientParameters{Time: 18 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}, p.GRPC.Client)
	assert.Equal(t, grpckeepalive.ServerParameters{Time: 18 * time.Second, Timeout: 10 * time.Second}, p.GRPC.Server)
	assert.Equal(t, grpckeepalive.EnforcementPolicy{MinTime: 9 * time.Second, PermitWithoutStream: true}, p.GRPC.Enforcement)
	assert.Equal(t, 10*time.Second, p.GRPC.TCP.UserTimeout)
	assert.Equal(t, p.TCP.Idle, p.GRPC.TCP.Idle)
	assert.GreaterOrEqual(t, p.GRPC.Client.Time, p.GRPC.Enforcement.MinTime)
	for name, d := range map[string]time.Duration{
		"TCP":            max(p.TCPDetection.IdleMax, p.TCPDetection.InFlightMax, p.TCPDetection.ZeroWindowMax),
		"TCP under gRPC": max(p.GRPC.TCPDetection.IdleMax, p.GRPC.TCPDetection.InFlightMax, p.GRPC.TCPDetection.ZeroWindowMax),
		"heartbeat":      p.HeartbeatDetection.IdleMax, "HTTP/2": p.HTTP2Max, "gRPC client": p.GRPC.ClientMax, "gRPC server": p.GRPC.ServerMax,
	} {
		assert.LessOrEqual(t, d, 30*time.Second, name)
	}
}

// gRPC's 10 s floor: a deadline that leaves no room for it fails, and says
// the shortest.
func TestWithinTooShort(t *testing.T) {
	t.Parallel()
	_, err := Within(8*time.Second, 0)
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.ErrorContains(t, err, "at least 10s apart")
	_, err = GRPCWithin(12*time.Second, keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 1})
	assert.NoError(t, err)
}
