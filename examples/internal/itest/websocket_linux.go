package itest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/heartbeat"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

// WSClient is a WebSocket recipe's client: it reads all the time (so that
// pongs are handled and a dead connection is seen), and closes its
// connection once a read fails.
type WSClient interface {
	// Echo sends msg and waits for the server's echo, or the end.
	Echo(ctx context.Context, msg []byte) error
	NetConn() net.Conn
	Done() <-chan struct{}
	Err() error // the reader's error, once Done is closed
	Close()
}

// WSServer is a WebSocket recipe's server: it echoes every message and
// closes a connection whose read fails.
type WSServer interface {
	http.Handler
	Push(msg []byte) error // a message to every client
	Conns() []net.Conn     // the clients' connections being served
	Ended() []error        // why each one's reader stopped
}

// WebSocket is a WebSocket library's recipe, both ends ours.
type WebSocket struct {
	// NewServer returns the recipe's server; with m nil it pings nobody.
	NewServer func(m *heartbeat.Monitor, onFail func(error)) WSServer
	// Dial returns the recipe's client of url, dialed with dial; with m
	// nil it pings nobody.
	Dial func(ctx context.Context, url string, dial testkit.DialFunc, m *heartbeat.Monitor, onFail func(error)) (WSClient, error)
	// Default is what the library dials with when it is not told otherwise.
	Default testkit.DialFunc
	// ConnContext is the http.Server's, if the server needs one.
	ConnContext func(ctx context.Context, c net.Conn) context.Context
}

// Pings is the WebSocket ping for the tests, from the same deadline as
// Config's UserTimeout: heartbeat.Within(3s, 0) is Interval 1 s, Timeout 1 s.
func Pings(t testing.TB) heartbeat.Config {
	hb, err := heartbeat.Within(Config.UserTimeout, 0)
	require.NoError(t, err)
	return hb
}

// PingBound is the longest a ping may take to find a peer dead, counted
// from the moment it died: the Monitor's worst case from the last ping
// answered (before that moment), and Slack.
func PingBound(hb heartbeat.Config) time.Duration {
	d, err := hb.Detection()
	if err != nil {
		panic("itest: " + err.Error())
	}
	return d.IdleMax + Slack
}

// serve serves s on ln until the test ends.
func (ws WebSocket) serve(t *testing.T, ln net.Listener, s http.Handler) {
	hs := &http.Server{Handler: s, ConnContext: ws.ConnContext, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
}

func wsURL(addr net.Addr) string { return "ws://" + addr.String() + "/" }

// DeadServer runs DeadPeer against the recipe's own server (no pings),
// through the Relay: the client, with its connection's reader, sees the
// drop itself, and does not reconnect.
func (ws WebSocket) DeadServer(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	ws.serve(t, ln, ws.NewServer(nil, nil))
	DeadPeer(t, Driver{
		Server:      ln.Addr().String(),
		Keepalive:   Config.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		Default:     ws.Default,
		ReadsIdle:   true,
		NoReconnect: true,
		Open: func(t *testing.T, addr string, dial testkit.DialFunc) Client {
			ctx, cancel := context.WithTimeout(context.Background(), NextWait)
			defer cancel()
			c, err := ws.Dial(ctx, "ws://"+addr+"/", dial, nil, nil)
			require.NoError(t, err)
			return Client{
				Do:    func(ctx context.Context) error { return c.Echo(ctx, []byte("ping")) },
				Close: c.Close,
			}
		},
	})
}

// silent makes conn a dead host to its peer, once neither end has data
// unacknowledged (or the peer's retransmission would count as life).
func silent(t *testing.T, conn net.Conn, peer *Socket) {
	t.Helper()
	require.NoError(t, peer.WaitQuiet(QuietTime, InFlightWait))
	if err := keepalivetest.Silence(conn); err != nil {
		if errors.Is(err, keepalivetest.ErrRefused) {
			testkit.Skip(t, err.Error())
		}
		require.NoError(t, err)
	}
}

// DeadClient proves the server's side: a client whose host dies (its
// socket silenced) is noticed by the server's TCP Config (idle, and with a
// pushed message in flight), through keepalive.WatchListener, and by the
// server's WebSocket pings alone (no TCP Config).
func (ws WebSocket) DeadClient(t *testing.T) {
	for _, mode := range []string{"tcp/idle", "tcp/in flight", "pings/idle"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ends := NewEnds()
			var (
				ln    net.Listener
				err   error
				m     *heartbeat.Monitor
				fails = make(chan error, 1)
				hb    = Pings(t)
			)
			if mode == "pings/idle" {
				lc := net.ListenConfig{KeepAlive: -1} // pings alone
				lc.SetMultipathTCP(false)
				ln, err = lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
				require.NoError(t, err)
				m, err = heartbeat.NewMonitor(hb)
				require.NoError(t, err)
				t.Cleanup(func() { m.Close() })
			} else {
				ln, err = Config.Listen(context.Background(), "tcp4", "127.0.0.1:0")
				require.NoError(t, err)
			}
			s := ws.NewServer(m, func(err error) {
				select {
				case fails <- err:
				default:
				}
			})
			ws.serve(t, keepalive.WatchListener(ln, ends.Hook), s)

			ctx, cancel := context.WithTimeout(context.Background(), NextWait)
			defer cancel()
			c, err := ws.Dial(ctx, wsURL(ln.Addr()), (&net.Dialer{KeepAlive: -1}).DialContext, nil, nil)
			require.NoError(t, err)
			t.Cleanup(c.Close)
			require.NoError(t, c.Echo(ctx, []byte("hello")))
			conns := s.Conns()
			require.Len(t, conns, 1)
			conn := conns[0]
			if m == nil {
				got, err := keepalive.Inspect(conn)
				require.NoError(t, err)
				require.Equal(t, Config.Rounded(), got, "the server's connection carries the Config")
			}
			sock := Dup(t, conn)

			silent(t, c.NetConn(), sock)
			q, err := sock.Quiesce(2 * time.Second)
			require.NoError(t, err)
			died := time.Now()
			switch mode {
			case "tcp/idle":
				took, dropped, err := sock.WaitDropped(q.LastRecv, IdleBound(Config))
				require.NoError(t, err)
				require.True(t, dropped, "idle connection to a dead client still ESTABLISHED %v after its last segment (bound %v)", took, IdleBound(Config))
				assert.GreaterOrEqual(t, took, IdleEarliest(Config), "no sooner than the model")
				end := ends.Wait(t, conn, NextWait)
				require.Equal(t, keepalive.CauseKeepAlive, end.Cause, "the kernel timed the server's connection out (%+v)", end.Status)
				ended := s.Ended()
				require.Len(t, ended, 1)
				assert.True(t, IsTimeout(ended[0]), "the server's read: %v", ended[0])
				t.Logf("server: idle connection to a dead client dropped %v after its last segment (bound %v); its read said %q (%T); WatchListener's hook: %v after %d probes",
					took.Round(time.Millisecond), IdleBound(Config).Round(time.Millisecond), ended[0], ended[0], end.Cause, end.Status.Probes)
			case "tcp/in flight":
				start := time.Now()
				require.NoError(t, s.Push([]byte("event")), "the push goes into the socket buffer")
				inFlight, err := sock.WaitInFlight(InFlightWait)
				require.NoError(t, err)
				require.True(t, inFlight, "the pushed message is unacknowledged")
				end := ends.Wait(t, conn, InFlightBound(Config)+NextWait)
				took := time.Since(start)
				require.Equal(t, keepalive.CauseRetransmit, end.Cause, "the kernel timed the server's connection out (%+v)", end.Status)
				assert.LessOrEqual(t, took, InFlightBound(Config)+Slack, "the server closed the dead client's connection within the bound")
				assert.GreaterOrEqual(t, took, InFlightEarliest(Config))
				ended := s.Ended()
				require.Len(t, ended, 1)
				assert.True(t, IsTimeout(ended[0]), "the server's read: %v", ended[0])
				t.Logf("server: message pushed to a dead client; connection closed %v after the push (bound %v); its read said %q (%T); WatchListener's hook: %v after %d retransmissions",
					took.Round(time.Millisecond), InFlightBound(Config).Round(time.Millisecond), ended[0], ended[0], end.Cause, end.Status.Retransmits)
			case "pings/idle":
				bound := PingBound(hb)
				select {
				case ferr := <-fails:
					took := time.Since(died)
					assert.LessOrEqual(t, took, bound)
					var herr *heartbeat.Error
					require.ErrorAs(t, ferr, &herr)
					end := ends.Wait(t, conn, NextWait)
					ended := s.Ended()
					require.Len(t, ended, 1)
					t.Logf("server pings %+v: dead client noticed %v after it died (bound %v): Monitor said %q; the server's read %q (%T); WatchListener's hook: %v",
						hb, took.Round(time.Millisecond), bound.Round(time.Millisecond), ferr, ended[0], ended[0], end.Cause)
				case <-time.After(bound + NextWait):
					t.Fatalf("the server's pings did not notice a dead client within %v", bound+NextWait)
				}
			}
		})
	}
}

// ServerPings proves the client's WebSocket pings alone (its dialer the
// library's default) notice a dead server behind keepalivetest.Proxy,
// idle and with an echo in flight.
func (ws WebSocket) ServerPings(t *testing.T) {
	for _, mode := range []string{"idle", "in flight"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			ws.serve(t, ln, ws.NewServer(nil, nil))
			proxy, err := keepalivetest.Proxy("tcp", ln.Addr().String())
			require.NoError(t, err)
			t.Cleanup(func() { proxy.Close() })

			hb := Pings(t)
			m, err := heartbeat.NewMonitor(hb)
			require.NoError(t, err)
			t.Cleanup(func() { m.Close() })
			fails := make(chan error, 1)
			ends := NewEnds()
			tr := Track(keepalive.WatchDial(ws.Default, ends.Hook))
			ctx, cancel := context.WithTimeout(context.Background(), NextWait)
			defer cancel()
			c, err := ws.Dial(ctx, wsURL(proxy.Addr()), tr.Dial, m, func(err error) {
				select {
				case fails <- err:
				default:
				}
			})
			require.NoError(t, err)
			t.Cleanup(c.Close)
			require.NoError(t, c.Echo(ctx, []byte("hello")))
			require.Len(t, tr.Conns(), 1)
			conn := tr.Conns()[0]

			sock := Dup(t, conn)
			require.NoError(t, sock.WaitQuiet(QuietTime, InFlightWait))
			if err := proxy.FailAll(keepalivetest.Silent); err != nil {
				if errors.Is(err, keepalivetest.ErrRefused) {
					testkit.Skip(t, err.Error())
				}
				require.NoError(t, err)
			}
			died := time.Now()
			var echo *Call
			if mode == "in flight" {
				echo = Start(func() error { return c.Echo(context.Background(), []byte("lost")) })
			}
			bound := PingBound(hb)
			select {
			case ferr := <-fails:
				took := time.Since(died)
				assert.LessOrEqual(t, took, bound)
				var herr *heartbeat.Error
				require.ErrorAs(t, ferr, &herr)
				end := ends.Wait(t, conn, NextWait)
				select {
				case <-c.Done():
				case <-time.After(NextWait):
					t.Fatalf("the client's reader did not stop within %v of the Monitor's close", NextWait)
				}
				line := ""
				if echo != nil {
					_, eerr, returned := echo.Wait(took + NextWait)
					require.True(t, returned, "the echo in flight did not return after the Monitor's close")
					require.Error(t, eerr)
					line = "; the echo in flight returned " + eerr.Error()
				}
				t.Logf("client pings %+v: dead server noticed %v after it died (bound %v): Monitor said %q; the client's read %q (%T)%s; WatchDial's hook: %v",
					hb, took.Round(time.Millisecond), bound.Round(time.Millisecond), ferr, c.Err(), c.Err(), line, end.Cause)
			case <-time.After(bound + NextWait):
				t.Fatalf("the client's pings did not notice a dead server within %v", bound+NextWait)
			}
		})
	}
}
