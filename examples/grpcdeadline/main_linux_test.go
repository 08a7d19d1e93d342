package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/examples/layers"
)

// The client's connection holds the TCP Config with gRPC's keepalive
// Timeout as its user timeout, as the plan's GRPC.TCP says; examples/layers
// proves the pings against a hung and a dead server.
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	p, err := layers.Within(deadline, middleboxIdle)
	require.NoError(t, err)
	held := p.TCP
	held.UserTimeout = 10 * time.Second // gRPC's keepalive Timeout
	assert.Equal(t, held, p.GRPC.TCP)
	assert.Equal(t, fmt.Sprintf(`gRPC within 30s behind a 5m50s middlebox:
client pings after 18s idle, answer within 10s; server after 18s, within 10s; policy MinTime 9s: hung or dead server within 28.975s
TCP as gRPC leaves it %+v (planned %+v): dead host within %v
`, held, p.TCP, p.GRPC.TCPDetection.IdleMax.Round(time.Millisecond)), out.String())
}
