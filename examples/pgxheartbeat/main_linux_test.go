package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/heartbeat"
	"github.com/keepalive-go/keepalive/layers"
)

// TestMain stops the PostgreSQL server the tests started (itest.Main).
func TestMain(m *testing.M) { itest.Main(m) }

func dsn(addr string) string { return "postgres://postgres@" + addr + "/postgres?sslmode=disable" }

func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, dsn(itest.Postgres(t))))
	p, err := layers.Within(deadline, middleboxIdle)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("PostgreSQL within 30s behind a 5m50s middlebox: TCP %+v (dead host within %v); heartbeat {Interval:18s Timeout:10s} (hung or dead server within 28.975s)\n",
		p.TCP, p.TCPDetection.IdleMax.Round(time.Millisecond)), out.String())
}

// A dead server behind a proxy that stays healthy: TCP keepalive sees only
// the proxy; the heartbeat closes the idle session within its bound, and
// the next query fails at once instead of hanging.
func TestDeadBackend(t *testing.T) {
	t.Parallel()
	relay := itest.NewBackendRelay(t, itest.Postgres(t))
	h := heartbeat.Config{Interval: 500 * time.Millisecond, Timeout: time.Second}
	d, err := h.Detection()
	require.NoError(t, err)
	m, err := heartbeat.NewMonitor(h)
	require.NoError(t, err)
	defer m.Close()
	failed := make(chan error, 1)
	ctx := context.Background()
	s, err := open(ctx, dsn(relay.Addr()), itest.Config, m, func(err error) { failed <- err })
	require.NoError(t, err)
	defer s.Close(ctx)
	time.Sleep(2 * h.Interval) // pings succeed on a live server
	var one int
	require.NoError(t, s.QueryRow(ctx, "SELECT 1", &one))
	relay.KillBackend(t)
	start := time.Now()
	select {
	case err := <-failed:
		took := time.Since(start)
		t.Logf("heartbeat closed the session after %v (bound %v): %v", took, d.IdleMax, err)
		assert.Less(t, took, d.IdleMax+itest.Slack)
		assert.ErrorContains(t, err, "heartbeat: ping timed out after 1s")
	case <-time.After(d.IdleMax + 2*itest.Slack):
		t.Fatal("the heartbeat did not close the session")
	}
	start = time.Now()
	err = s.QueryRow(ctx, "SELECT 1", &one)
	t.Logf("next query failed after %v: %v", time.Since(start), err)
	assert.Error(t, err)
	assert.Less(t, time.Since(start), itest.Slack)
}
