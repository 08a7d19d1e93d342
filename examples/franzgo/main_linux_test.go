package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/keepalivetest"
	"github.com/keepalive-go/keepalive/layers"
)

// cluster starts a one-broker kfake cluster on a free loopback port, its
// listener a keepalivetest.Listener so that the test can make the broker
// die like a host. kfake speaks Kafka's protocol, in this process.
func cluster(t *testing.T) ([]string, *keepalivetest.Listener) {
	t.Helper()
	var broker *keepalivetest.Listener
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic),
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			broker, err = keepalivetest.NewListener(ln)
			return broker, err
		}))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs(), broker
}

// The plan's Config is what the kernel holds on every broker connection.
func TestRun(t *testing.T) {
	t.Parallel()
	seeds, _ := cluster(t)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, seeds))
	p, err := layers.Within(deadline, middleboxIdle)
	require.NoError(t, err)
	assert.Regexp(t, fmt.Sprintf(`^Kafka within 30s: \d+ broker connections, each holds %s\n$`, regexpQuote(fmt.Sprintf("%+v", p.TCP))), out.String())
}

func regexpQuote(s string) string {
	return strings.NewReplacer("{", `\{`, "}", `\}`).Replace(s)
}

// ends records the hook's verdict for every connection closed.
type ends struct {
	mu  sync.Mutex
	got map[net.Conn]keepalive.Cause
}

func (e *ends) hook(conn net.Conn, cause keepalive.Cause, _ keepalive.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got[conn] = cause
}

// wait waits up to bound until one of conns has ended, and returns it.
func (e *ends) wait(conns []net.Conn, bound time.Duration) (net.Conn, keepalive.Cause, bool) {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		for _, c := range conns {
			if cause, ok := e.got[c]; ok {
				e.mu.Unlock()
				return c, cause, true
			}
		}
		e.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	return nil, 0, false
}

// A broker that dies like a host, with a produce in flight and with the
// client idle. franz-go's own request deadlines and idle reaping are set
// past the test's waits, so that the socket decides; it retries a failed
// produce on a new connection, so the produce succeeds, after the kernel
// timed the old connection out.
func TestDeadPeerFranz(t *testing.T) {
	t.Parallel()
	cfg := itest.Config
	for _, mode := range []string{"in flight", "idle"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			seeds, broker := cluster(t)
			e := &ends{got: map[net.Conn]keepalive.Cause{}}
			tr := itest.Track(keepalive.WatchDial(cfg.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext, e.hook))
			var logs strings.Builder
			var logMu sync.Mutex
			cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.Dialer(tr.Dial),
				kgo.RequestTimeoutOverhead(10*time.Minute), kgo.ProduceRequestTimeout(10*time.Minute), kgo.ConnIdleTimeout(10*time.Minute),
				kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
				kgo.WithLogger(kgo.BasicLogger(writerFunc(func(p []byte) {
					logMu.Lock()
					logs.Write(p)
					logMu.Unlock()
				}), kgo.LogLevelDebug, nil))) // its connection errors are logged at debug only
			require.NoError(t, err)
			t.Cleanup(cl.Close)
			ctx, cancel := context.WithTimeout(context.Background(), itest.ControlWait(cfg))
			defer cancel()
			produce := func() error { return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr() }
			require.NoError(t, produce())
			require.NoError(t, produce())
			old := tr.Conns()
			socks := make([]*itest.Socket, len(old))
			for i, c := range old {
				got, err := keepalive.Inspect(c)
				require.NoError(t, err)
				require.Equal(t, cfg.Rounded(), got, "every broker connection carries the Config")
				socks[i] = itest.Dup(t, c)
				require.NoError(t, socks[i].WaitQuiet(itest.QuietTime, itest.InFlightWait))
			}
			require.NoError(t, broker.FailAll(keepalivetest.Silent))

			if mode == "in flight" {
				call := itest.Start(produce)
				var inFlight *itest.Socket
				for deadline := time.Now().Add(itest.InFlightWait); inFlight == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
					for _, s := range socks {
						if info, err := s.Info(); err == nil && info.Unacked > 0 {
							inFlight = s
						}
					}
				}
				require.NotNil(t, inFlight, "the produce went out, unacknowledged")
				bound := itest.InFlightBound(cfg) + itest.NextWait
				took, err, returned := call.Wait(bound)
				require.True(t, returned, "produce to a dead broker not done within %v: %v", bound, took)
				require.NoError(t, err, "the produce was retried on a new connection")
				_, cause, ok := e.wait(old, itest.NextWait)
				require.True(t, ok, "franz-go closed the dead connection")
				require.Equal(t, keepalive.CauseRetransmit, cause)
				assert.Greater(t, len(tr.Conns()), len(old), "a new connection")
				assert.GreaterOrEqual(t, took, itest.InFlightEarliest(cfg))
				logMu.Lock()
				t.Logf("produce in flight to a dead broker: retried on a new connection, done after %v (the old one's bound %v); WatchDial's hook: %v; kgo logged: %s",
					took.Round(time.Millisecond), itest.InFlightBound(cfg).Round(time.Millisecond), cause, firstLine(logs.String(), "connection timed out"))
				logMu.Unlock()
				return
			}
			// Idle: the kernel drops every broker connection; franz-go, which
			// does not read them, finds out on the next produce, and retries.
			for _, s := range socks {
				q, err := s.Quiesce(2 * time.Second)
				require.NoError(t, err)
				took, dropped, err := s.WaitDropped(q.LastRecv, itest.IdleBound(cfg))
				require.NoError(t, err)
				require.True(t, dropped, "idle broker connection still ESTABLISHED %v after its last segment (bound %v)", took, itest.IdleBound(cfg))
				assert.GreaterOrEqual(t, took, itest.IdleEarliest(cfg))
				t.Logf("idle broker connection dropped %v after its last segment (bound %v)", took.Round(time.Millisecond), itest.IdleBound(cfg).Round(time.Millisecond))
			}
			next := itest.Start(produce)
			took, err, returned := next.Wait(itest.NextWait)
			require.True(t, returned, "produce after the drop not done within %v", itest.NextWait)
			require.NoError(t, err)
			_, cause, ok := e.wait(old, itest.NextWait)
			require.True(t, ok, "franz-go closed a dropped connection")
			require.Equal(t, keepalive.CauseKeepAlive, cause)
			logMu.Lock()
			t.Logf("the produce after the drop took %v, on a new connection; WatchDial's hook: %v; kgo logged: %s", took.Round(time.Millisecond), cause, firstLine(logs.String(), "connection timed out"))
			logMu.Unlock()
		})
	}
}

type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

func firstLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return "(nothing with " + sub + ")"
}

// franz-go's own dialer leaves Go's keepalive (15 s, 15 s, 9, no
// UserTimeout): read back, not waited for (the other recipes' control
// cases show that wait).
func TestDefaultDialer(t *testing.T) {
	t.Parallel()
	seeds, _ := cluster(t)
	tr := itest.Track((&net.Dialer{Timeout: 10 * time.Second}).DialContext) // kgo's: client.go, cfg.dialTimeout
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.Dialer(tr.Dial))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("v")}).FirstErr())
	got, err := keepalive.Inspect(tr.Conns()[0])
	require.NoError(t, err)
	assert.Equal(t, keepalive.Config{Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 9}, got)
}
