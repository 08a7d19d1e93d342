package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// TestMain stops the PostgreSQL server the tests started, and fails the run
// if it is not installed (itest.Main).
func TestMain(m *testing.M) { itest.Main(m) }

// dsn for addr. sslmode=disable: the test server has no TLS. No
// connect_timeout, no statement_timeout: nothing of pgx's or the server's
// own ends a wait in these tests.
func dsn(addr string) string { return "postgres://postgres@" + addr + "/postgres?sslmode=disable" }

func TestRun(t *testing.T) {
	t.Parallel()
	addr := itest.Postgres(t)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, dsn(addr)))
	want := fmt.Sprintf("connection holds %+v\n", cfg)
	assert.Equal(t, "pgxpool: "+want+"database/sql: "+want, out.String())
}

// pgxDefault is what pgx dials with when not given a DialFunc: a zero
// net.Dialer, so Go's 15 s keepalive (15 s + 9 × 15 s = 2m30s).
func pgxDefault(t *testing.T) testkit.DialFunc {
	pc, err := pgconn.ParseConfig("host=127.0.0.1")
	require.NoError(t, err)
	return testkit.DialFunc(pc.DialFunc)
}

var keepaliveDial = itest.Config.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext

// pgxTimeout: pgx reports a connection that timed out as "unexpected EOF".
// Its background reader (pgconn/internal/bgreader, running while a query is
// written) takes ETIMEDOUT for a read-deadline timeout, since
// syscall.ETIMEDOUT.Timeout() is true, and drops it; the next read finds
// the socket closed. A FIN would read the same, so this only pins down what
// users see: itest.DeadPeer proves the timeout with keepalive.CauseOf,
// which the hook of keepalive.WatchDial receives as pgx closes the
// connection ("retransmission timeout", not "closed by peer").
func pgxTimeout(err error) bool {
	return itest.IsTimeout(err) || errors.Is(err, io.ErrUnexpectedEOF)
}

func TestDeadPeerPgxpool(t *testing.T) {
	t.Parallel()
	itest.DeadPeer(t, itest.Driver{
		Server:     itest.Postgres(t),
		Keepalive:  keepaliveDial,
		Default:    pgxDefault(t),
		TimeoutErr: pgxTimeout,
		Open: func(t *testing.T, addr string, dial testkit.DialFunc) itest.Client {
			pool, err := newPool(context.Background(), dsn(addr), dial)
			require.NoError(t, err)
			return itest.Client{
				// pgxpool pings a connection idle for over 1 s before handing it
				// out and, if the ping fails, takes another: that is how the
				// idle case's next query finds a new connection. In the in-flight
				// case the query follows the last one within 1 s, so the query
				// itself is what reaches the dead server.
				Do: func(ctx context.Context) error {
					_, err := pool.Exec(ctx, "select 1")
					return err
				},
				// Not waited for: pgx drains a connection it gives up on for up
				// to 15 s (asyncClose), and the control case's dead one would
				// hold Close that long.
				Close: func() { go pool.Close() },
			}
		},
	})
}

func TestDeadPeerDatabaseSQL(t *testing.T) {
	t.Parallel()
	itest.DeadPeer(t, itest.Driver{
		Server:     itest.Postgres(t),
		Keepalive:  keepaliveDial,
		Default:    pgxDefault(t),
		TimeoutErr: pgxTimeout,
		Open: func(t *testing.T, addr string, dial testkit.DialFunc) itest.Client {
			db, err := newDB(dsn(addr), dial)
			require.NoError(t, err)
			return itest.Client{
				// As with pgxpool, the stdlib driver pings a connection idle
				// for over 1 s when database/sql reuses it (ResetSession), and
				// database/sql retries a failed ping on a new connection.
				Do: func(ctx context.Context) error {
					_, err := db.ExecContext(ctx, "select 1")
					return err
				},
				Close: func() { db.Close() },
			}
		},
	})
}
