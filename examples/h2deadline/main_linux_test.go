package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/layers"
)

// The recipe runs over HTTP/2 with the planned settings; examples/layers
// proves the pings against a hung and a dead server.
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	p, err := layers.Within(deadline, middleboxIdle)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf(`HTTP/2.0; within 30s behind a 5m50s middlebox:
TCP %+v: dead host dropped within %v
HTTP/2 ping after 18s without a frame, answer within 10s; stalled write 28s: hung or dead server within 28.975s
`, p.TCP, p.TCPDetection.IdleMax.Round(time.Millisecond)), out.String())
}
