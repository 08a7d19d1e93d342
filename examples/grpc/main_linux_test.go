package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(&out))
	assert.Equal(t, fmt.Sprintf("server: SERVING\nclient: connection holds %+v\n", cfg), out.String())
}

// capture hands every accepted connection to a channel.
type capture struct {
	net.Listener
	conns chan net.Conn
}

func (c capture) Accept() (net.Conn, error) {
	conn, err := c.Listener.Accept()
	if err == nil {
		c.conns <- conn
	}
	return conn, err
}

// The server's accepted connections carry the Config once gRPC has set up
// its transport, but only with newServer's keepalive Timeout: a plain
// grpc.NewServer replaces UserTimeout with its keepalive Timeout, 20 s.
func TestServerConnsCarryConfig(t *testing.T) {
	t.Parallel()
	plain := func(keepalive.Config) *grpc.Server {
		srv := grpc.NewServer()
		healthpb.RegisterHealthServer(srv, health.NewServer())
		return srv
	}
	for _, tc := range []struct {
		name      string
		newServer func(keepalive.Config) *grpc.Server
		want      keepalive.Config
	}{
		{"newServer", newServer, itest.Config},
		{"grpc.NewServer()", plain, keepalive.Config{Idle: itest.Config.Idle, Interval: itest.Config.Interval, Count: itest.Config.Count, UserTimeout: 20 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kln, err := itest.Config.Listen(context.Background(), "tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			var ln net.Listener = capture{kln, make(chan net.Conn, 1)}
			srv := tc.newServer(itest.Config)
			go srv.Serve(ln)
			t.Cleanup(srv.Stop)
			conn, err := newClient(ln.Addr().String(), itest.Config.Dialer(nil).DialContext)
			require.NoError(t, err)
			t.Cleanup(func() { conn.Close() })
			_, err = healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
			require.NoError(t, err) // the server's transport is set up: it has answered
			got, err := keepalive.Inspect(<-ln.(capture).conns)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestDeadPeerGRPC(t *testing.T) {
	t.Parallel()
	ln, err := itest.Config.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	srv := newServer(itest.Config)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)

	itest.DeadPeer(t, itest.Driver{
		Server:    ln.Addr().String(),
		Keepalive: itest.Config.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		Default:   grpcDefaultDialer.DialContext,
		// The transport's reader goroutine reads an idle connection too;
		// the loopy writer may still send flow-control and PING frames
		// after a response.
		ReadsIdle:           true,
		WritesAfterResponse: true,
		Open: func(t *testing.T, addr string, dial testkit.DialFunc) itest.Client {
			// gRPC's client keepalive is off by default and stays off: its
			// PINGs would detect the dead peer too (in 20 s after at least
			// 10 s idle) and set TCP_USER_TIMEOUT.
			conn, err := newClient(addr, dial)
			require.NoError(t, err)
			health := healthpb.NewHealthClient(conn)
			return itest.Client{
				// No deadline on the RPC: only the connection can end it.
				Do: func(ctx context.Context) error {
					_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
					return err
				},
				Close: func() { conn.Close() },
			}
		},
	})
}

// grpcDefaultDialer is what gRPC dials with when given no dialer
// (internal.NetDialerWithTCPKeepalive): SO_KEEPALIVE on with the system's
// values (7200 s, 75 s, 9 by default), Go's own keepalive off.
var grpcDefaultDialer = &net.Dialer{
	KeepAlive: -1,
	Control:   keepalive.Config{}.Control,
}
