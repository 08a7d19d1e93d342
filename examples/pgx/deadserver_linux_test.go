package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

// TestPoolNoticesDeadServer is the test of docs/testing-your-service.md:
// as any user (InNetNS), a pool made by newPool, dialing with a Config,
// notices within the Config's deadlines that its real PostgreSQL died.
// CI runs it as uid 65534 (.ci/run).
func TestPoolNoticesDeadServer(t *testing.T) {
	t.Parallel()
	// Before InNetNS: PostgreSQL runs outside the namespace (it refuses
	// to run as root, which this test is in the namespace), and the test
	// reaches it through its unix socket: a network namespace has a
	// loopback of its own, but the same files. Your CI's database: its
	// socket, such as /var/run/postgresql/.s.PGSQL.5432.
	socket := itest.PostgresSocket(t)
	if !keepalivetest.InNetNS(t, nil) {
		return // the run inside the namespace passed, failed or skipped
	}

	// The service's Config, short so the test takes seconds.
	cfg := keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 2, UserTimeout: 3 * time.Second}
	sys, err := keepalive.ReadSystem()
	require.NoError(t, err)
	d, err := cfg.Detection(sys)
	require.NoError(t, err)

	// open returns a pool that dials the server through a Proxy, and its
	// one connection.
	open := func(t *testing.T) (*keepalivetest.Listener, *pgxpool.Pool, net.Conn) {
		p, err := keepalivetest.Proxy("unix", socket)
		require.NoError(t, err)
		pool, err := newPool(context.Background(), "postgres://postgres@"+p.Addr().String()+"/postgres?sslmode=disable", cfg.Dialer(nil).DialContext)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		t.Cleanup(func() { p.Close() }) // first: pool.Close then finds the connection closed
		c, err := pool.Acquire(context.Background())
		require.NoError(t, err)
		defer c.Release()
		return p, pool, c.Conn().PgConn().Conn()
	}
	query := func(ctx context.Context, pool *pgxpool.Pool) error {
		_, err := pool.Exec(ctx, "select 1")
		return err
	}

	t.Run("in flight", func(t *testing.T) {
		t.Parallel()
		p, pool, conn := open(t)
		require.NoError(t, p.FailAll(keepalivetest.Silent))
		// The query is sent to the dead server: it must fail (or be retried
		// on a new connection) within InFlightMax of the write.
		keepalivetest.EndsWithin(t, d.InFlightMax+slack, conn, func(ctx context.Context) error { return query(ctx, pool) })
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		p, pool, conn := open(t)
		require.NoError(t, p.FailAll(keepalivetest.Silent))
		// The kernel drops the idle pooled connection within IdleMax...
		keepalivetest.EndsWithin(t, d.IdleMax+slack, conn, nil)
		// ...and the next query goes to a new one.
		_, err := keepalivetest.EndsWithin(t, 5*time.Second, nil, func(ctx context.Context) error { return query(ctx, pool) })
		require.NoError(t, err, "the query after the dead connection was dropped")
		require.Greater(t, len(p.Conns()), 1, "the query went to a new connection")
	})
}

// slack is a second on top of the model's deadlines for the driver's
// reaction and a loaded machine (the race detector on two busy cores).
const slack = time.Second
