package itest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

// Client is a driver's client, made for one test case.
type Client struct {
	// Do makes one request through the driver's pool, the way an
	// application would, and returns the driver's error.
	Do func(ctx context.Context) error
	// Close releases the client, after the context of a Do that still hangs
	// has been canceled.
	Close func()
}

// Driver describes one integration for DeadPeer.
type Driver struct {
	// Server is the address of the real server.
	Server string
	// Open makes a client of addr whose connections are dialed with dial.
	// Every timeout of the driver's own that could end a wait (read
	// timeouts, its own keepalive pings) must be off or longer than
	// ControlWait, for both cases: otherwise the test measures the driver,
	// not the Config.
	Open func(t *testing.T, addr string, dial testkit.DialFunc) Client
	// Keepalive dials with Config applied; Default is what the driver dials
	// with when it is not told otherwise.
	Keepalive, Default testkit.DialFunc
	// TimeoutErr reports whether the driver's error for a request to a
	// dead peer is what the driver makes of ETIMEDOUT; nil means IsTimeout.
	// It pins down what users see; it is not the proof of a timeout, which
	// DeadPeer takes from keepalive.CauseOf, through keepalive.WatchDial.
	TimeoutErr func(error) bool
	// ReadsIdle says the driver keeps a read pending on an idle pooled
	// connection (gRPC's and net/http's reader goroutines), so it sees the
	// kernel drop it and closes it by itself. The request after the drop
	// is then made once the driver has closed it, as an application's
	// would come later than a test polling the socket: made sooner, it can
	// still be handed the dead connection and fail with its error. Drivers
	// that check a connection only as they hand it out (pgx, go-redis)
	// leave it false.
	ReadsIdle bool
	// WritesAfterResponse says the driver may still write once a response
	// is in (gRPC's flow-control and PING frames). Written after the peer
	// went silent, that would stay unacknowledged and time the connection
	// out by retransmission, before the request the in-flight case
	// measures or instead of the idle case's probes. So the peer goes
	// silent only once the connection has carried no data for QuietTime:
	// always in the idle case, and in the in-flight case for these
	// drivers only, as there the request must follow the last one within
	// 1 s (pgx pings a connection idle for longer, and moves a query whose
	// ping fails to a new connection).
	WritesAfterResponse bool
	// NextFails says the driver hands out a pooled connection without
	// checking it (gomemcache): after an idle drop, the next request goes
	// to the dropped connection and fails with the kernel's error, and the
	// one after it goes to a new connection.
	NextFails bool
	// NoReconnect says the client holds one connection and never dials
	// again by itself (a WebSocket): after an idle drop the next request
	// fails, and there is no new connection to check.
	NoReconnect bool
	// ResendsInFlight says the driver keeps a request whose connection
	// died and sends it again once it has reconnected (paho's QoS 1
	// publish): the request in flight then succeeds, on a new connection,
	// after the kernel dropped the old one, instead of failing.
	ResendsInFlight bool
	// TakesIdleError says the driver's liveness check reads the socket's
	// pending error with its own system call (go-sql-driver/mysql's
	// MSG_PEEK recvfrom), past the watched net.Conn, and then writes a
	// goodbye that fails with EPIPE: keepalive.CauseOf must not read that
	// as a reset (it did before; the idle case checks the probe count
	// too).
	TakesIdleError bool
}

// DeadPeer runs, in parallel, a client with the Config and the same client
// with the driver's default dialer against a server behind a
// keepalivetest.Proxy whose connections go silent like a dead host:
//
//   - in flight: a request sent to the dead peer (seen unacknowledged on the
//     pooled connection) fails with a timeout within InFlightBound (no
//     sooner than UserTimeout), while without the Config it still hangs
//     after ControlWait;
//   - idle: once the pooled connection has carried no data for QuietTime,
//     it is dropped by the kernel within IdleBound of the last segment it
//     received (no sooner than IdleEarliest), and the next request goes to
//     a new connection and succeeds (see ReadsIdle), while without the
//     Config the dead connection is still ESTABLISHED after ControlWait.
//
// With the Config, the end of the connection is proven with the public
// API, not from the driver's error, which some drivers flatten to EOF:
// keepalive.WatchDial hands the hook the cause of the driver's connection
// as the driver closes it, and it must be the dead peer's (a
// retransmission timeout in flight, a keepalive timeout when idle), not a
// FIN or a reset.
//
// Before that, the connection the driver uses is checked to carry Config.
func DeadPeer(t *testing.T, d Driver) {
	cfg := Config
	if d.TimeoutErr == nil {
		d.TimeoutErr = IsTimeout
	}
	for _, withConfig := range []bool{true, false} {
		dial, name := d.Keepalive, "keepalive"
		if !withConfig {
			dial, name = d.Default, "default"
		}
		for _, mode := range []string{"in flight", "idle"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				relay, err := keepalivetest.Proxy("tcp", d.Server)
				require.NoError(t, err)
				t.Cleanup(func() { relay.Close() })
				ends := NewEnds()
				tr := Track(keepalive.WatchDial(dial, ends.Hook))
				c := d.Open(t, relay.Addr().String(), tr.Dial)
				t.Cleanup(c.Close)
				// Canceled before Close (cleanups run last first), to end a
				// request that still hangs in the control case.
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)

				require.NoError(t, c.Do(ctx), "first request")
				conns := tr.Conns()
				require.Len(t, conns, 1, "the driver made one connection")
				conn := conns[0]
				got, err := keepalive.Inspect(conn)
				require.NoError(t, err)
				if withConfig {
					require.Equal(t, cfg.Rounded(), got, "the connection the driver uses carries the Config")
				} else {
					require.NotEqual(t, cfg.Rounded(), got)
					t.Logf("driver's default dialer: the connection holds %+v", got)
				}

				// A duplicate of the driver's socket: its TCP_INFO stays readable
				// after the driver closes the connection.
				sock := Dup(t, conn)

				// The last request before the peer dies.
				require.NoError(t, c.Do(ctx), "second request")
				require.Len(t, tr.Conns(), 1, "the second request reused the pooled connection")
				// Idle for real before the peer dies (Driver.WritesAfterResponse).
				if mode == "idle" || d.WritesAfterResponse {
					require.NoError(t, sock.WaitQuiet(QuietTime, InFlightWait))
				}
				silenceAll(t, relay)
				q, err := sock.Quiesce(2 * time.Second)
				require.NoError(t, err)
				// Linux counts Idle from the last segment the socket received,
				// by its own stamp: the bounds below count from there, not from
				// a clock read in the test, which would be off by however long
				// this goroutine waited for a core. (If a probe was answered
				// before the relay went silent, its ACK is that last segment.)
				t.Logf("peer silent %v after the last segment it sent", time.Since(q.LastRecv).Round(time.Millisecond))

				var call *Call
				if mode == "in flight" {
					call = Start(func() error { return c.Do(ctx) })
					inFlight, err := sock.WaitInFlight(InFlightWait)
					require.NoError(t, err)
					require.True(t, inFlight, "the request went out on the pooled connection, unacknowledged")
				}
				switch {
				case mode == "in flight" && withConfig:
					took, err, returned := call.Wait(InFlightBound(cfg))
					require.True(t, returned, "request to a dead peer not done within %v: %v, error %v", InFlightBound(cfg), took, err)
					if d.ResendsInFlight {
						require.NoError(t, err, "request resent after the reconnect")
						assert.Greater(t, len(tr.Conns()), 1, "the request was resent on a new connection")
						end := ends.Wait(t, conn, NextWait)
						require.Equal(t, keepalive.CauseRetransmit, end.Cause, "the kernel timed the driver's connection out (%+v)", end.Status)
						assert.GreaterOrEqual(t, took, InFlightEarliest(cfg), "no sooner than UserTimeout")
						t.Logf("request in flight to a dead peer: its connection dropped, the request resent on a new one, done after %v (bound %v); keepalive.CauseOf: %v after %d retransmissions",
							took.Round(time.Millisecond), InFlightBound(cfg).Round(time.Millisecond), end.Cause, end.Status.Retransmits)
						return
					}
					require.Error(t, err, "request to a dead peer succeeded after %v", took)
					// The proof is the cause, whatever the driver made of ETIMEDOUT.
					end := ends.Wait(t, conn, NextWait)
					require.Equal(t, keepalive.CauseRetransmit, end.Cause, "the kernel timed the driver's connection out (driver: %v; %+v)", err, end.Status)
					assert.True(t, d.TimeoutErr(err), "the driver reports a timeout as documented, not %v", err)
					assert.GreaterOrEqual(t, took, InFlightEarliest(cfg), "no sooner than UserTimeout: %v", err)
					t.Logf("request in flight to a dead peer failed after %v (bound %v): driver said %q (%T); keepalive.CauseOf: %v after %d retransmissions",
						took.Round(time.Millisecond), InFlightBound(cfg).Round(time.Millisecond), err, err, end.Cause, end.Status.Retransmits)
				case mode == "in flight":
					took, err, returned := call.Wait(ControlWait(cfg))
					require.False(t, returned, "without the Config the request returned after %v: %v", took, err)
					t.Logf("without the Config: request in flight to a dead peer still hanging after %v; kernel: %s", took.Round(time.Millisecond), describe(conn))
				case withConfig:
					took, dropped, err := sock.WaitDropped(q.LastRecv, IdleBound(cfg))
					require.NoError(t, err)
					require.True(t, dropped, "idle connection to a dead peer still ESTABLISHED %v after its last segment (bound %v)", took, IdleBound(cfg))
					assert.GreaterOrEqual(t, took, IdleEarliest(cfg), "no sooner than the model")
					if d.ReadsIdle {
						require.True(t, sock.WaitReleased(NextWait), "the driver has not closed the dropped connection within %v", NextWait)
					}
					if d.NextFails || d.NoReconnect {
						first := Start(func() error { return c.Do(ctx) })
						firstTook, err, returned := first.Wait(NextWait)
						require.True(t, returned, "the request after the drop not done within %v: %v, error %v", NextWait, firstTook, err)
						require.Error(t, err, "the request after the drop went to the dropped connection")
						t.Logf("the request after the drop failed after %v: driver said %q (%T)", firstTook.Round(time.Millisecond), err, err)
						if d.NoReconnect {
							end := ends.Wait(t, conn, NextWait)
							require.Equal(t, keepalive.CauseKeepAlive, end.Cause, "the kernel timed the driver's connection out (%+v)", end.Status)
							t.Logf("idle connection to a dead peer dropped %v after its last segment (bound %v); keepalive.CauseOf: %v after %d probes; the client does not reconnect",
								took.Round(time.Millisecond), IdleBound(cfg).Round(time.Millisecond), end.Cause, end.Status.Probes)
							return
						}
					}
					next := Start(func() error { return c.Do(ctx) })
					nextTook, err, returned := next.Wait(NextWait)
					require.True(t, returned, "the request after the drop not done within %v: %v, error %v", NextWait, nextTook, err)
					require.NoError(t, err, "the request after the drop")
					assert.Greater(t, len(tr.Conns()), 1, "the request after the drop went to a new connection")
					end := ends.Wait(t, conn, NextWait)
					if d.TakesIdleError {
						assert.GreaterOrEqual(t, end.Status.Probes, cfg.Count, "every probe went unanswered (%+v)", end.Status)
					}
					require.Equal(t, keepalive.CauseKeepAlive, end.Cause, "the kernel timed the driver's connection out (%+v)", end.Status)
					t.Logf("idle pooled connection to a dead peer dropped %v after its last segment (bound %v); keepalive.CauseOf: %v after %d probes; the next request took %v on a new connection",
						took.Round(time.Millisecond), IdleBound(cfg).Round(time.Millisecond), end.Cause, end.Status.Probes, nextTook.Round(time.Millisecond))
				default:
					took, dropped, err := sock.WaitDropped(q.LastRecv, ControlWait(cfg))
					require.NoError(t, err)
					require.False(t, dropped, "without the Config the idle connection was dropped %v after its last segment", took)
					t.Logf("without the Config: idle pooled connection to a dead peer still ESTABLISHED %v after its last segment", took.Round(time.Millisecond))
				}
			})
		}
	}
}

// describe is conn's status for a log line, through the public API.
func describe(conn net.Conn) string {
	st, err := keepalive.StatusOf(conn)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%v, %d retransmissions, %d probes, %d bytes unacknowledged, gives up within %v",
		st.State, st.Retransmits, st.Probes, st.Unacked, st.GiveUp.Round(time.Second))
}

// IsTimeout reports whether err says the kernel timed the connection out
// (ETIMEDOUT), through wrapping or, for drivers that flatten errors to text
// (gRPC status), in its message. A read deadline of the driver's own
// (os.ErrDeadlineExceeded, "i/o timeout") does not count.
func IsTimeout(err error) bool {
	if errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	return strings.Contains(err.Error(), syscall.ETIMEDOUT.Error())
}

// silenceAll makes every connection of p silent (keepalivetest.Silent:
// once the client has acknowledged all it was sent). Where this process
// may not, it skips the test with the reason, failing it under CI.
func silenceAll(t *testing.T, p *keepalivetest.Listener) {
	t.Helper()
	err := p.FailAll(keepalivetest.Silent)
	switch {
	case err == nil:
	case errors.Is(err, keepalivetest.ErrRefused), errors.Is(err, errors.ErrUnsupported):
		testkit.Skip(t, "skipping, no dead peer: "+err.Error()+"; to run it: as root, or wrap the test in keepalivetest.InNetNS")
	default:
		t.Fatalf("silencing the peer: %v", err)
	}
}
