//go:build linux

package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The client's connection holds the TCP Config with gRPC's keepalive
// Timeout as its user timeout, as the plan's GRPC.TCP says; examples/layers
// proves the pings against a hung and a dead server.
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	assert.Equal(t, `gRPC within 30s behind a 5m50s middlebox:
client pings after 18s idle, answer within 10s; server after 18s, within 10s; policy MinTime 9s: hung or dead server within 28.975s
TCP as gRPC leaves it {Idle:9s Interval:5s Count:3 UserTimeout:10s} (planned {Idle:9s Interval:5s Count:3 UserTimeout:24s}): dead host within 15.798s
`, out.String())
}
