//go:build linux

package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The recipe runs over HTTP/2 with the planned settings; examples/layers
// proves the pings against a hung and a dead server.
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	assert.Equal(t, `HTTP/2.0; within 30s behind a 5m50s middlebox:
TCP {Idle:9s Interval:5s Count:3 UserTimeout:24s}: dead host dropped within 27.088s
HTTP/2 ping after 18s without a frame, answer within 10s; stalled write 28s: hung or dead server within 28.975s
`, out.String())
}
