// Command mongo connects to MongoDB through go.mongodb.org/mongo-driver/v2
// with a keepalive.Config from layers.Within on every connection the
// driver dials, pooled and monitoring alike (options.Client().SetDialer).
//
//	go run ./mongo -uri mongodb://127.0.0.1:27017
//
// No MongoDB server is packaged in Debian, so this recipe is tested at the
// TCP level only, against a silenced loopback listener: the Config on the
// driver's connections, read back, and a handshake to a dead peer ended
// by it. The driver's own behaviour with a dead server (its heartbeat,
// HeartbeatInterval 10 s by default on a dedicated monitoring connection,
// and its pool's reconnects) is not measured here.
//
// The driver dials with a zero net.Dialer (Go's 15 s, 15 s, 9, no
// UserTimeout) and bounds the handshake with ConnectTimeout (30 s).
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
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/layers"
)

// Dead within 30 s, behind a load balancer that forgets flows idle for 350 s.
const deadline, middleboxIdle = 30 * time.Second, 350 * time.Second

func main() {
	uri := flag.String("uri", "mongodb://127.0.0.1:27017", "MongoDB URI")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *uri); err != nil {
		log.Fatal(err)
	}
}

// DialFunc is a dial function as options.ContextDialer.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// DialContext dials.
func (f DialFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}

// Options are the client's options for uri, every connection dialed with dial.
func Options(uri string, dial DialFunc) *options.ClientOptions {
	return options.Client().ApplyURI(uri).SetDialer(dial) // the one line
}

func run(ctx context.Context, out io.Writer, uri string) error {
	p, err := layers.Within(deadline, middleboxIdle)
	if err != nil {
		return err
	}
	var (
		mu    sync.Mutex
		conns []net.Conn // to show what they hold below
	)
	dial := keepalive.WatchDial(p.TCP.Dialer(&net.Dialer{Timeout: 10 * time.Second}).DialContext, logEnd)
	cl, err := mongo.Connect(Options(uri, func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		if err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return c, err
	}))
	if err != nil {
		return err
	}
	defer cl.Disconnect(context.Background())
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx, nil); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	got, err := keepalive.Inspect(conns[len(conns)-1])
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "MongoDB within %v: connection holds %+v\n", deadline, got)
	return nil
}

// logEnd is the hook keepalive.WatchDial calls as each connection is
// closed: a dead server is logged as one.
func logEnd(conn net.Conn, cause keepalive.Cause, st keepalive.Status) {
	if cause.PeerDead() {
		slog.Warn("MongoDB server dead", "remote", conn.RemoteAddr(), "cause", cause, "probes", st.Probes, "retransmits", st.Retransmits)
	}
}
