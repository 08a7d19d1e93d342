// Command pgx queries PostgreSQL through github.com/jackc/pgx/v5, with a
// keepalive.Config on every connection: through pgxpool
// (pgconn.Config.DialFunc) and through database/sql with pgx's stdlib
// driver. A query to a dead server then fails in seconds instead of hanging
// for 15 minutes or more, and an idle pooled connection to it is dropped,
// so the pool's next query goes to a new connection.
//
//	go run ./pgx -dsn 'postgres://postgres@127.0.0.1:5432/postgres'
package main

import (
	"context"
	"database/sql"
	"expvar"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/keepalive-go/keepalive"
)

// cfg: a dead server is dropped 25 s after its last word when idle, and 25
// s after the write (at worst cfg.Detection's InFlightMax) when a query is
// in flight.
var cfg = keepalive.Config{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3, UserTimeout: 25 * time.Second}

func main() {
	dsn := flag.String("dsn", os.Getenv("DATABASE_URL"), "PostgreSQL connection string (default $DATABASE_URL)")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *dsn); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, dsn string) error {
	// Setting DialFunc replaces pgx's own, so give the dialer a connect
	// timeout here (pgx's connect_timeout would be lost).
	dial := keepalive.WatchDial(cfg.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext, logEnd)

	pool, err := newPool(ctx, dsn, dial)
	if err != nil {
		return err
	}
	defer pool.Close()
	var got keepalive.Config
	err = pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		got, err = keepalive.Inspect(c.Conn().PgConn().Conn())
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "pgxpool: connection holds %+v\n", got)

	db, err := newDB(dsn, dial)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	err = conn.Raw(func(driverConn any) error {
		got, err = keepalive.Inspect(driverConn.(*stdlib.Conn).Conn().PgConn().Conn())
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "database/sql: connection holds %+v\n", got)
	return nil
}

// ended counts connections by why they ended (expvar: /debug/vars).
var ended = expvar.NewMap("keepalive_conns_ended")

// logEnd is the hook keepalive.WatchDial and WatchListener call as each
// connection is closed: a dead peer is logged as one, where the driver
// says EOF or "connection timed out", and every end is counted.
func logEnd(conn net.Conn, cause keepalive.Cause, st keepalive.Status) {
	ended.Add(cause.String(), 1)
	if cause.PeerDead() {
		slog.Warn("peer dead", "remote", conn.RemoteAddr(), "cause", cause, "probes", st.Probes, "retransmits", st.Retransmits)
	}
}

// newPool is a pgxpool whose connections are dialed with dial.
func newPool(ctx context.Context, dsn string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	pc.ConnConfig.DialFunc = dial // pgconn.Config.DialFunc
	return pgxpool.NewWithConfig(ctx, pc)
}

// newDB is a database/sql pool on pgx's stdlib driver whose connections are
// dialed with dial.
func newDB(dsn string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*sql.DB, error) {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cc.DialFunc = dial
	return stdlib.OpenDB(*cc), nil
}
