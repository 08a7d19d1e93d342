// Command memcache talks to memcached through github.com/bradfitz/gomemcache
// with a keepalive.Config from layers.Within on every pooled connection
// (Client.DialContext). memcached's text protocol has no heartbeat;
// gomemcache bounds each operation with Client.Timeout (500 ms by default),
// and the Config bounds what that does not: an idle pooled connection to a
// dead server, and any operation when Timeout is raised for large values.
//
//	go run ./memcache -addr 127.0.0.1:11211
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/layers"
)

// Dead within 30 s, behind a load balancer that forgets flows idle for 350 s.
const deadline, middleboxIdle = 30 * time.Second, 350 * time.Second

func main() {
	addr := flag.String("addr", "127.0.0.1:11211", "memcached address")
	flag.Parse()
	if err := run(os.Stdout, *addr); err != nil {
		log.Fatal(err)
	}
}

func run(out io.Writer, addr string) error {
	p, err := layers.Within(deadline, middleboxIdle)
	if err != nil {
		return err
	}
	var last net.Conn
	dial := keepalive.WatchDial(p.TCP.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext, logEnd)
	mc := newClient(addr, func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		last = c // to show what it holds below
		return c, err
	}, opTimeout(p))
	defer mc.Close()
	if err := mc.Set(&memcache.Item{Key: "keepalive", Value: []byte("ok")}); err != nil {
		return err
	}
	got, err := keepalive.Inspect(last)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "memcached within %v: connection holds %+v; operations time out after %v\n", deadline, got, mc.Timeout)
	return nil
}

// newClient is a gomemcache client whose connections are dialed with dial
// and whose every operation is bounded by timeout.
func newClient(addr string, dial func(ctx context.Context, network, address string) (net.Conn, error), timeout time.Duration) *memcache.Client {
	mc := memcache.New(addr)
	mc.DialContext = dial // the one line: every pooled connection carries the Config
	mc.Timeout = timeout
	return mc
}

// opTimeout is gomemcache's per-operation deadline for the plan: its
// default, 500 ms, unless the plan's ping Timeout is shorter. memcached
// answers in microseconds; raise it only for large values, and the
// Config still bounds an idle pooled connection.
func opTimeout(p layers.Plan) time.Duration {
	return min(memcache.DefaultTimeout, p.Heartbeat.Timeout)
}

// logEnd is the hook keepalive.WatchDial calls as each connection is
// closed: a dead server is logged as one.
func logEnd(conn net.Conn, cause keepalive.Cause, st keepalive.Status) {
	if cause.PeerDead() {
		slog.Warn("memcached dead", "remote", conn.RemoteAddr(), "cause", cause, "probes", st.Probes, "retransmits", st.Retransmits)
	}
}
