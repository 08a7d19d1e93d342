package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/layers"
)

// TestMain stops the Redis server the tests started (itest.Main).
func TestMain(m *testing.M) { itest.Main(m) }

func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, itest.Redis(t)))
	p, err := layers.Within(deadline, middleboxIdle)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("Redis within 30s behind a 5m50s middlebox: TCP %+v (dead host within %v); commands time out after 10s\n",
		p.TCP, p.TCPDetection.IdleMax.Round(time.Millisecond)), out.String())
}

// A dead server behind a proxy that stays healthy: TCP keepalive sees only
// the proxy, the command's timeout ends the call.
func TestDeadBackend(t *testing.T) {
	t.Parallel()
	relay := itest.NewBackendRelay(t, itest.Redis(t))
	const timeout = time.Second
	rdb := newClient(relay.Addr(), itest.Config, timeout)
	defer rdb.Close()
	ctx := context.Background()
	require.NoError(t, rdb.Set(ctx, "k", "v", 0).Err())
	relay.KillBackend(t)
	start := time.Now()
	err := rdb.Get(ctx, "k").Err()
	took := time.Since(start)
	t.Logf("GET failed after %v: %v", took, err)
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded) // the command's timeout, not the kernel
	assert.Less(t, took, timeout+itest.Slack)
}
