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
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/examples/internal/itest"
	grpclayers "github.com/keepalive-go/keepalive/examples/layers"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// TestMain stops the etcd server the tests started, and fails the run if
// it is not installed (itest.Main).
func TestMain(m *testing.M) { itest.Main(m) }

// The plan's Config is what the kernel holds on the client's connection:
// gRPC's keepalive sets TCP_USER_TIMEOUT only on a *net.TCPConn
// (internal/syscall.SetTCPUserTimeout), and WatchDial's is not one.
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, itest.Etcd(t)))
	p, err := grpclayers.Within(deadline, middleboxIdle)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("etcd within 30s: connection holds %+v; keepalive pings after 18s, answered within 10s\n", p.TCP), out.String())
}

func TestDeadPeerEtcd(t *testing.T) {
	t.Parallel()
	itest.DeadPeer(t, itest.Driver{
		Server:    itest.Etcd(t),
		Keepalive: itest.Config.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		// gRPC's own (clientv3 sets none): SO_KEEPALIVE, the system's values.
		Default:             (&net.Dialer{KeepAlive: -1, Control: keepalive.Config{}.Control}).DialContext,
		ReadsIdle:           true,
		WritesAfterResponse: true,
		Open: func(t *testing.T, addr string, dial testkit.DialFunc) itest.Client {
			// gRPC keepalive off (DialKeepAliveTime 0), as clientv3's default:
			// its pings would end the wait whatever the socket does.
			cli, err := clientv3.New(Config(addr, grpclayers.GRPC{}, dial))
			require.NoError(t, err)
			return itest.Client{
				// A Put: clientv3 retries a Get (repeatable) on a new
				// connection by itself and would hide the failure; a write
				// it does not resend once sent.
				Do: func(ctx context.Context) error {
					_, err := cli.Put(ctx, "k", "v")
					return err
				},
				Close: func() { cli.Close() },
			}
		},
	})
}
