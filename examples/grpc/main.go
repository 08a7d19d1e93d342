// Command grpc runs a gRPC server and client (the standard health service,
// so no generated code of our own) with one keepalive.Config on both ends.
//
//	go run ./grpc
//
// TCP keepalive or gRPC's own keepalive (HTTP/2 PINGs)? Both detect a dead
// peer; they differ in where they run and what they need:
//
//   - TCP keepalive (this package) runs in the kernel: no traffic your
//     program or the server sees, no server-side policy to respect, the same
//     Config for gRPC, HTTP, databases. UserTimeout also bounds a request
//     in flight. It checks the path to the next TCP endpoint only: behind an
//     L4 proxy or NAT that is the far end, behind an L7 proxy (Envoy, a
//     gRPC-aware load balancer) it is the proxy.
//   - gRPC keepalive (keepalive.ClientParameters) sends HTTP/2 PINGs end to
//     end through L7 proxies, and also catches a server that is alive but
//     stuck. Servers refuse pings more often than their enforcement policy
//     allows (default: one per 5 minutes; more and they close the
//     connection with GOAWAY "too_many_pings"), so it cannot be tuned down
//     to seconds without configuring the server too.
//
// Use TCP keepalive by default; add gRPC keepalive when an L7 proxy sits in
// between or a hung server must be noticed, with Time no shorter than the
// server's MinTime.
//
// One interaction: whenever gRPC keepalive is on (on a server it is, by
// default: Time 2 h), gRPC sets TCP_USER_TIMEOUT to its keepalive Timeout
// (default 20 s), replacing Config.UserTimeout. Pass Timeout:
// cfg.UserTimeout, as newServer does, to keep one value.
package main

import (
	"context"
	"expvar"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpckeepalive "google.golang.org/grpc/keepalive"

	"github.com/keepalive-go/keepalive"
)

// cfg: a dead peer is dropped 25 s after its last word when idle, and 25 s
// after the write (at worst cfg.Detection's InFlightMax) when an RPC is in
// flight.
var cfg = keepalive.Config{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3, UserTimeout: 25 * time.Second}

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(out io.Writer) error {
	ln, err := cfg.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := newServer(cfg)
	go srv.Serve(keepalive.WatchListener(ln, logEnd))
	defer srv.Stop()

	var clientConn net.Conn
	dialer := cfg.Dialer(&net.Dialer{Timeout: 5 * time.Second})
	conn, err := newClient(ln.Addr().String(), func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := keepalive.WatchDial(dialer.DialContext, logEnd)(ctx, network, addr)
		clientConn = c // to show what it holds below
		return c, err
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	got, err := keepalive.Inspect(clientConn)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "server: %v\n", resp.GetStatus())
	fmt.Fprintf(out, "client: connection holds %+v\n", got)
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

// newServer serves the health service. gRPC's server keepalive is on by
// default and would set TCP_USER_TIMEOUT to its Timeout (20 s) on every
// connection; Timeout: cfg.UserTimeout keeps the Config's value.
func newServer(cfg keepalive.Config) *grpc.Server {
	srv := grpc.NewServer(grpc.KeepaliveParams(grpckeepalive.ServerParameters{Timeout: cfg.UserTimeout}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	return srv
}

// newClient connects to addr with dial for its TCP connections. gRPC's own
// client keepalive stays off (its default).
func newClient(addr string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return dial(ctx, "tcp", addr) }),
	)
}
