// Command grpcdeadline serves and calls gRPC with every layer set from one
// deadline by layers.Within: the TCP Config on both ends, the client's
// keepalive pings, the server's, and a server policy that accepts the
// client's (no too_many_pings GOAWAY). gRPC replaces TCP_USER_TIMEOUT with
// its keepalive Timeout; the plan's GRPC.TCP is the Config as gRPC leaves
// it, and its bound still meets the deadline.
//
//	go run ./grpcdeadline
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/examples/layers"
)

// Dead within 30 s, behind a load balancer that forgets flows idle for 350 s.
const deadline, middleboxIdle = 30 * time.Second, 350 * time.Second

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	p, err := layers.Within(deadline, middleboxIdle)
	if err != nil {
		return err
	}
	ln, err := p.TCP.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.KeepaliveParams(p.GRPC.Server), grpc.KeepaliveEnforcementPolicy(p.GRPC.Enforcement))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(ln)
	defer srv.Stop()

	var dialed net.Conn // to show what the kernel holds below
	d := p.TCP.Dialer(&net.Dialer{Timeout: 5 * time.Second})
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(p.GRPC.Client),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, "tcp", addr)
			dialed = c
			return c, err
		}))
	if err != nil {
		return err
	}
	defer cc.Close()
	if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		return err
	}
	held, err := keepalive.Inspect(dialed)
	if err != nil {
		return err
	}
	g := p.GRPC
	fmt.Fprintf(out, "gRPC within %v behind a %v middlebox:\n", deadline, middleboxIdle)
	fmt.Fprintf(out, "client pings after %v idle, answer within %v; server after %v, within %v; policy MinTime %v: hung or dead server within %v\n",
		g.Client.Time, g.Client.Timeout, g.Server.Time, g.Server.Timeout, g.Enforcement.MinTime, g.ClientMax.Round(time.Millisecond))
	fmt.Fprintf(out, "TCP as gRPC leaves it %+v (planned %+v): dead host within %v\n", held, p.TCP, g.TCPDetection.IdleMax.Round(time.Millisecond))
	return nil
}
