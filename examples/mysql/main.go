// Command mysql talks to MySQL or MariaDB through database/sql and
// github.com/go-sql-driver/mysql with a keepalive.Config from
// layers.Within on every pooled connection (mysql.Config.DialFunc), and
// the driver's readTimeout and writeTimeout from the same deadline.
//
//	go run ./mysql -addr 127.0.0.1:3306 -user root
//
// The driver dials with a zero net.Dialer (Go's 15 s, 15 s, 9) and then
// turns SO_KEEPALIVE on again, which leaves our values alone. MySQL's
// protocol has no heartbeat: a query in flight is bounded by readTimeout
// (default none) or the Config; an idle pooled connection the kernel
// dropped is found by the driver's liveness check (checkConnLiveness, on
// by default) before reuse, and database/sql retries on a new connection.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/layers"
)

// Dead within 30 s, behind a load balancer that forgets flows idle for 350 s.
const deadline, middleboxIdle = 30 * time.Second, 350 * time.Second

func main() {
	addr := flag.String("addr", "127.0.0.1:3306", "MySQL server address")
	user := flag.String("user", "root", "user")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *addr, *user); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, addr, user string) error {
	p, err := layers.Within(deadline, middleboxIdle)
	if err != nil {
		return err
	}
	var last net.Conn
	dial := keepalive.WatchDial(p.TCP.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext, logEnd)
	mc := Config(addr, user, func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		last = c // to show what it holds below
		return c, err
	}, p.Heartbeat.Timeout)
	db, err := open(mc)
	if err != nil {
		return err
	}
	defer db.Close()
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	got, err := keepalive.Inspect(last)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "MySQL within %v: connection holds %+v; reads and writes time out after %v\n", deadline, got, mc.ReadTimeout)
	return nil
}

// Config is the driver's configuration for addr: dial on every pooled
// connection, and timeout on each read and write of a query (the plan's
// ping Timeout: a query that legitimately runs longer needs a longer one,
// and then the Config alone bounds a dead server).
func Config(addr, user string, dial func(ctx context.Context, network, address string) (net.Conn, error), timeout time.Duration) *mysql.Config {
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User = "tcp", addr, user
	c.DialFunc = dial // the one line (per connector; mysql.RegisterDialContext does it for a DSN's network name, process-wide)
	c.ReadTimeout, c.WriteTimeout = timeout, timeout
	return c
}

func open(c *mysql.Config) (*sql.DB, error) {
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

// logEnd is the hook keepalive.WatchDial calls as each connection is
// closed: a dead server is logged as one, where the driver says
// "invalid connection".
func logEnd(conn net.Conn, cause keepalive.Cause, st keepalive.Status) {
	if cause.PeerDead() {
		slog.Warn("MySQL server dead", "remote", conn.RemoteAddr(), "cause", cause, "probes", st.Probes, "retransmits", st.Retransmits)
	}
}
