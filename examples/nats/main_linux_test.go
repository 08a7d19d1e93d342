package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/heartbeat"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/layers"
)

// TestMain stops the nats-server the tests started, and fails the run if
// it is not installed (itest.Main).
func TestMain(m *testing.M) { itest.Main(m) }

func natsURL(addr string) string { return (&url.URL{Scheme: "nats", Host: addr}).String() }

// The plan's Config is what the kernel holds on the client's connection.
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, natsURL(itest.NATS(t))))
	p, err := layers.Within(deadline, middleboxIdle)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("NATS within 30s: connection holds %+v; PINGs every 9s, stale after 2 unanswered\n", p.TCP), out.String())
}

func TestPings(t *testing.T) {
	for _, d := range []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute} {
		interval, maxOut := Pings(d)
		worst := time.Duration(maxOut+1) * interval
		assert.LessOrEqual(t, worst+heartbeat.Slack(worst), d, "deadline %v: every %v, %d out", d, interval, maxOut)
	}
}

// natsTimeout: nats.go fails a Flush whose connection broke with
// "nats: connection closed" (it closes the pending PONG channels as it
// starts reconnecting), not the kernel's error; that reaches the
// DisconnectErrHandler instead ("read: connection timed out").
func natsTimeout(err error) bool {
	return errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionReconnecting)
}

func TestDeadPeerNATS(t *testing.T) {
	t.Parallel()
	itest.DeadPeer(t, itest.Driver{
		Server:     itest.NATS(t),
		Keepalive:  itest.Config.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		Default:    (&net.Dialer{Timeout: nats.DefaultTimeout}).DialContext, // nats.go's own: Go's 15 s, 15 s, 9
		TimeoutErr: natsTimeout,
		ReadsIdle:  true, // its read loop sees the drop and reconnects
		Open: func(t *testing.T, addr string, dial testkit.DialFunc) itest.Client {
			logf, stop := itest.LogUntil(t)
			nc, err := nats.Connect(natsURL(addr), nats.SetCustomDialer(Dialer(dial)),
				// NATS's own PINGs off for the test (they would end the wait
				// whatever the socket does); reconnect at once.
				nats.PingInterval(time.Hour), nats.ReconnectWait(10*time.Millisecond), nats.ReconnectJitter(0, 0),
				nats.MaxReconnects(-1),
				nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
					logf("nats.go DisconnectErrHandler: %v", err)
				}))
			require.NoError(t, err)
			return itest.Client{
				Do: func(ctx context.Context) error {
					// nats.go wants a deadline; one past the test's waits, so the socket decides.
					ctx, cancel := context.WithTimeout(ctx, time.Hour)
					defer cancel()
					return nc.FlushWithContext(ctx)
				},
				Close: func() { stop(); nc.Close() },
			}
		},
	})
}

// The server dead behind a healthy L4 proxy: TCP keepalive sees only the
// proxy; NATS's PINGs (1 s, 2 outstanding: bound 3 s plus slack) do not.
func TestPingsDeadBackend(t *testing.T) {
	t.Parallel()
	relay := itest.NewBackendRelay(t, itest.NATS(t))
	errs := make(chan error, 1)
	nc, err := nats.Connect(natsURL(relay.Addr()), nats.SetCustomDialer(itest.Config.Dialer(&net.Dialer{Timeout: 5 * time.Second})),
		nats.PingInterval(time.Second), nats.MaxPingsOutstanding(2), nats.NoReconnect(),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err == nil {
				err = nc.LastError()
			}
			select {
			case errs <- err:
			default:
			}
		}))
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.Flush())
	relay.KillBackend(t)
	start := time.Now()
	const bound = 3*time.Second + itest.Slack
	select {
	case err := <-errs:
		took := time.Since(start)
		t.Logf("NATS PINGs: dead server behind a live proxy noticed after %v (bound %v): %q (%T)", took.Round(time.Millisecond), bound, err, err)
		assert.ErrorIs(t, err, nats.ErrStaleConnection)
		assert.Less(t, took, bound)
	case <-time.After(bound + 2*time.Second):
		t.Fatalf("NATS PINGs did not notice a dead server within %v", bound+2*time.Second)
	}
}
