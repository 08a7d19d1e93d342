// Command nats talks to a NATS server through github.com/nats-io/nats.go
// with a keepalive.Config from layers.Within on its connection
// (nats.SetCustomDialer) and NATS's own PINGs derived from the same
// deadline (PingInterval, MaxPingsOut).
//
//	go run ./nats -url nats://127.0.0.1:4222
//
// nats.go dials with a plain net.Dialer (Go's 15 s, 15 s, 9) and pings
// every 2 minutes, declaring the connection stale after 2 unanswered: a
// dead server goes unnoticed for up to 6 minutes idle, and a publish
// goes on "succeeding" into the socket buffer meanwhile.
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

	"github.com/nats-io/nats.go"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/heartbeat"
	"github.com/keepalive-go/keepalive/layers"
)

// Dead within 30 s, behind a load balancer that forgets flows idle for 350 s.
const deadline, middleboxIdle = 30 * time.Second, 350 * time.Second

func main() {
	url := flag.String("url", "nats://127.0.0.1:4222", "NATS server URL")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *url); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, url string) error {
	p, err := layers.Within(deadline, middleboxIdle)
	if err != nil {
		return err
	}
	interval, maxOut := Pings(deadline)
	var last net.Conn
	dial := keepalive.WatchDial(p.TCP.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext, logEnd)
	nc, err := nats.Connect(url,
		nats.SetCustomDialer(Dialer(func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := dial(ctx, network, address)
			last = c // to show what it holds below
			return c, err
		})),
		nats.PingInterval(interval), nats.MaxPingsOutstanding(maxOut))
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // nats.go wants a deadline
	defer cancel()
	if err := nc.FlushWithContext(ctx); err != nil {
		return err
	}
	got, err := keepalive.Inspect(last)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "NATS within %v: connection holds %+v; PINGs every %v, stale after %d unanswered\n", deadline, got, interval, maxOut)
	return nil
}

// Dialer is a dial function as nats.CustomDialer, which has no context:
// the dial is bounded by the net.Dialer's Timeout.
type Dialer func(ctx context.Context, network, address string) (net.Conn, error)

// Dial dials with a background context.
func (d Dialer) Dial(network, address string) (net.Conn, error) {
	return d(context.Background(), network, address)
}

// pingsOut is nats.go's default MaxPingsOut, kept.
const pingsOut = 2

// Pings is NATS's PingInterval and MaxPingsOut for deadline. nats.go
// sends a PING each PingInterval and, at the tick that finds more than
// MaxPingsOut unanswered, fails the connection as stale: a server dead
// just after answering is noticed (MaxPingsOut + 1) x PingInterval later,
// and the timer's slack on top (heartbeat.Slack) must fit in deadline.
// (The server pings the client on its own: nats-server's ping_interval,
// 2 minutes by default.)
func Pings(deadline time.Duration) (interval time.Duration, maxOut int) {
	interval = ((deadline - heartbeat.Slack(deadline)) / (pingsOut + 1)).Truncate(time.Second)
	return max(interval, time.Second), pingsOut
}

// logEnd is the hook keepalive.WatchDial calls as each connection is
// closed: a dead server is logged as one.
func logEnd(conn net.Conn, cause keepalive.Cause, st keepalive.Status) {
	if cause.PeerDead() {
		slog.Warn("NATS server dead", "remote", conn.RemoteAddr(), "cause", cause, "probes", st.Probes, "retransmits", st.Retransmits)
	}
}
