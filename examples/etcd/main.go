// Command etcd talks to etcd through go.etcd.io/etcd/client/v3 (gRPC
// underneath) with the TCP Config and gRPC keepalive that examples/layers
// derives from one deadline: the context dialer in Config.DialOptions,
// DialKeepAliveTime and DialKeepAliveTimeout from the gRPC plan.
//
//	go run ./etcd -endpoint 127.0.0.1:2379
//
// clientv3 sets no dialer of its own (gRPC's: SO_KEEPALIVE with the
// system's 2 h, 75 s, 9) and no keepalive unless DialKeepAliveTime is
// set; once it is, gRPC sets TCP_USER_TIMEOUT to DialKeepAliveTimeout on
// every *net.TCPConn, replacing the Config's (layers.GRPC.TCP is the
// Config as gRPC leaves it). A connection from keepalive.WatchDial is not
// a *net.TCPConn, so gRPC leaves it alone and it keeps the plan's TCP
// Config whole (measured: UserTimeout 12 s, not 10 s); both are within
// the deadline.
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

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/keepalive-go/keepalive"
	grpclayers "github.com/keepalive-go/keepalive/examples/layers"
)

// Dead within 30 s, behind a load balancer that forgets flows idle for 350 s.
const deadline, middleboxIdle = 30 * time.Second, 350 * time.Second

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:2379", "etcd endpoint")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *endpoint); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, endpoint string) error {
	p, err := grpclayers.Within(deadline, middleboxIdle)
	if err != nil {
		return err
	}
	var last net.Conn
	dial := keepalive.WatchDial(p.TCP.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext, logEnd)
	cfg := Config(endpoint, p.GRPC, func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		last = c // to show what it holds below
		return c, err
	})
	cli, err := clientv3.New(cfg)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "keepalive", "ok"); err != nil {
		return err
	}
	got, err := keepalive.Inspect(last)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "etcd within %v: connection holds %+v; keepalive pings after %v, answered within %v\n",
		deadline, got, cfg.DialKeepAliveTime, cfg.DialKeepAliveTimeout)
	return nil
}

// Config is clientv3's configuration for endpoint: dial on every
// connection, gRPC's keepalive from g. PermitWithoutStream stays false:
// etcd's server refuses pings on a connection with no stream (its
// enforcement policy) and would end it with GOAWAY too_many_pings; a
// client with a Watch open, the usual case, has one.
func Config(endpoint string, g grpclayers.GRPC, dial func(ctx context.Context, network, address string) (net.Conn, error)) clientv3.Config {
	return clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return dial(ctx, "tcp", addr) // the one line; clientv3 appends DialOptions last
		})},
		DialKeepAliveTime:    g.Client.Time,
		DialKeepAliveTimeout: g.Client.Timeout,
	}
}

// logEnd is the hook keepalive.WatchDial calls as each connection is
// closed: a dead server is logged as one.
func logEnd(conn net.Conn, cause keepalive.Cause, st keepalive.Status) {
	if cause.PeerDead() {
		slog.Warn("etcd dead", "remote", conn.RemoteAddr(), "cause", cause, "probes", st.Probes, "retransmits", st.Retransmits)
	}
}
