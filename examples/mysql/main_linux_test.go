package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/layers"
)

// TestMain stops the MariaDB server the tests started, and fails the run
// if it is not installed (itest.Main).
func TestMain(m *testing.M) { itest.Main(m) }

// The plan's Config is what the kernel holds on the client's connection,
// although the driver turns SO_KEEPALIVE on again after the dial.
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, itest.MariaDB(t), "root"))
	p, err := layers.Within(deadline, middleboxIdle)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("MySQL within 30s: connection holds %+v; reads and writes time out after 10s\n", p.TCP), out.String())
}

// mysqlTimeout: once a query was sent, the driver reports any read
// failure as mysql.ErrInvalidConn ("invalid connection"), and logs the
// kernel's error ("read: connection timed out") through its Logger.
func mysqlTimeout(err error) bool { return errors.Is(err, mysql.ErrInvalidConn) }

func TestDeadPeerMySQL(t *testing.T) {
	t.Parallel()
	itest.DeadPeer(t, itest.Driver{
		Server:     itest.MariaDB(t),
		Keepalive:  itest.Config.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		Default:    (&net.Dialer{}).DialContext, // the driver's own: Go's 15 s, 15 s, 9
		TimeoutErr: mysqlTimeout,
		// checkConnLiveness peeks at the socket before reuse and takes its
		// ETIMEDOUT ("closing bad idle connection: connection timed out").
		TakesIdleError: true,
		Open: func(t *testing.T, addr string, dial testkit.DialFunc) itest.Client {
			// readTimeout and writeTimeout off: the socket decides, as for a
			// long query.
			db, err := open(Config(addr, "root", dial, 0))
			require.NoError(t, err)
			return itest.Client{
				Do: func(ctx context.Context) error {
					_, err := db.ExecContext(ctx, "DO 1")
					return err
				},
				Close: func() { db.Close() },
			}
		},
	})
}
