package main

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

// TestClientNoticesDeadServer is the test of docs/testing-your-service.md
// for go-redis: as any user (InNetNS), a client dialing with a Config
// notices within the Config's deadlines that its real Redis died. CI runs
// it as uid 65534 (.ci/run).
func TestClientNoticesDeadServer(t *testing.T) {
	t.Parallel()
	// Before InNetNS: Redis runs outside the namespace, and the test
	// reaches it through its unix socket (a network namespace has a
	// loopback of its own, but the same files).
	socket := itest.RedisSocket(t)
	if !keepalivetest.InNetNS(t, nil) {
		return // the run inside the namespace passed, failed or skipped
	}

	cfg := keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 2, UserTimeout: 3 * time.Second}
	sys, err := keepalive.ReadSystem()
	require.NoError(t, err)
	d, err := cfg.Detection(sys)
	require.NoError(t, err)

	// open returns a client that dials the server through a Proxy, and its
	// one connection.
	open := func(t *testing.T) (*keepalivetest.Listener, *redis.Client, net.Conn) {
		p, err := keepalivetest.Proxy("unix", socket)
		require.NoError(t, err)
		var mu sync.Mutex
		var last net.Conn // the connection EndsWithin reports on
		rdb := redis.NewClient(&redis.Options{
			Addr: p.Addr().String(),
			Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := cfg.Dialer(nil).DialContext(ctx, network, addr)
				mu.Lock()
				defer mu.Unlock()
				last = c
				return c, err
			},
			// go-redis's own 3 s timeouts off: the Config is what must end
			// the wait. (With them on, the test proves them instead.)
			ReadTimeout:  -1,
			WriteTimeout: -1,
		})
		t.Cleanup(func() { rdb.Close() })
		t.Cleanup(func() { p.Close() }) // first: rdb.Close then finds the connection closed
		require.NoError(t, rdb.Ping(context.Background()).Err())
		mu.Lock()
		defer mu.Unlock()
		return p, rdb, last
	}

	t.Run("in flight", func(t *testing.T) {
		t.Parallel()
		p, rdb, conn := open(t)
		require.NoError(t, p.FailAll(keepalivetest.Silent))
		// The command is sent to the dead server: it must fail (or be
		// retried on a new connection) within InFlightMax of the write.
		keepalivetest.EndsWithin(t, d.InFlightMax+slack, conn, func(ctx context.Context) error {
			return rdb.Get(ctx, "k").Err()
		})
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		p, rdb, conn := open(t)
		require.NoError(t, p.FailAll(keepalivetest.Silent))
		// The kernel drops the idle pooled connection within IdleMax...
		keepalivetest.EndsWithin(t, d.IdleMax+slack, conn, nil)
		// ...and the next command goes to a new one.
		_, err := keepalivetest.EndsWithin(t, 5*time.Second, nil, func(ctx context.Context) error {
			return rdb.Ping(ctx).Err()
		})
		require.NoError(t, err, "the command after the dead connection was dropped")
		require.Greater(t, len(p.Conns()), 1, "the command went to a new connection")
	})
}

// slack is a second on top of the model's deadlines for the driver's
// reaction and a loaded machine (the race detector on two busy cores).
const slack = time.Second
