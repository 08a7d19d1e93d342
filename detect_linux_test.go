package keepalive_test

import (
	"context"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/internal/testkit/deadpeer"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

// schedSlack covers the scheduler and the race detector on a loaded 2-core
// machine: the time between the kernel failing the socket and the test
// seeing the failing Read.
const schedSlack = 500 * time.Millisecond

// jiffy covers the kernel stamping the last received segment in whole
// ticks (1 ms at HZ 1000, 4 ms at HZ 250, 10 ms at HZ 100), which can put
// its timers up to a tick before our wall-clock start.
const jiffy = 10 * time.Millisecond

// Idle connection, dead peer: the Read fails with ETIMEDOUT between the
// model and the worst case.
func TestDetectIdle(t *testing.T) {
	t.Parallel()
	s := time.Second
	for _, tc := range []struct {
		name string
		cfg  keepalive.Config
	}{
		{"count", keepalive.Config{Idle: s, Interval: s, Count: 3}},
		{"count 1", keepalive.Config{Idle: 2 * s, Interval: s, Count: 1}},
		{"user timeout k=2", keepalive.Config{Idle: s, Interval: s, Count: 9, UserTimeout: 2500 * time.Millisecond}},
		{"user timeout below idle", keepalive.Config{Idle: 2 * s, Interval: s, Count: 9, UserTimeout: 500 * time.Millisecond}},
		{"user timeout long interval", keepalive.Config{Idle: s, Interval: 2 * s, Count: 9, UserTimeout: 4500 * time.Millisecond}},
		// A timer long enough for the wheel to round it by seconds (2.05 s at
		// HZ 250), the case that shows the slack must not assume HZ 1000.
		{"long idle timer", keepalive.Config{Idle: 20 * s, Interval: s, Count: 1}},
		// Just above the first probe: a late timer ends it one probe early.
		{"user timeout just above a probe", keepalive.Config{Idle: s, Interval: s, UserTimeout: 2010 * time.Millisecond}},
	} {
		for _, lb := range testkit.Loopbacks(t) {
			t.Run(tc.name+"/"+lb.Network, func(t *testing.T) {
				t.Parallel()
				d := detection(t, tc.cfg)
				earliest, model, worst := d.IdleMin, d.Idle, d.IdleMax
				start := time.Now() // before the handshake, so before the last segment received
				client, server := testkit.Pair(t, lb, nil, tc.cfg.Dial)
				deadpeer.Silence(t, server)
				// Silenced before the first probe, or a probe could be answered.
				require.Less(t, time.Since(start), tc.cfg.Idle/2, "the peer went silent too late")
				// Past worst+schedSlack the read deadline ends the wait with
				// ErrDeadlineExceeded instead of ETIMEDOUT: that is the upper bound.
				took, err := testkit.ReadFailure(client, start, worst+schedSlack)
				require.ErrorIs(t, err, syscall.ETIMEDOUT, "after %v (model %v, worst case %v)", took, model, worst)
				assert.GreaterOrEqual(t, took, earliest-jiffy, "never before the model")
				t.Logf("model %v (earliest %v), measured %v, worst case %v", model, earliest, took, worst)
			})
		}
	}
}

// Data in flight, dead peer: keepalive is silent, UserTimeout decides; the
// model's bounds count from the write.
func TestDetectInFlight(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  keepalive.Config
	}{
		{"user timeout", keepalive.Config{UserTimeout: 1500 * time.Millisecond}},
		{"user timeout with keepalive", keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 1, UserTimeout: 2 * time.Second}},
	} {
		for _, lb := range testkit.Loopbacks(t) {
			t.Run(tc.name+"/"+lb.Network, func(t *testing.T) {
				t.Parallel()
				d := detection(t, tc.cfg)
				lo, hi := d.InFlightMin, d.InFlightMax
				client, server := testkit.Pair(t, lb, nil, tc.cfg.Dial)
				deadpeer.Silence(t, server)
				start := time.Now()
				_, err := client.Write([]byte("are you there?"))
				require.NoError(t, err)
				// The read deadline is the upper bound (see TestDetectIdle).
				took, err := testkit.ReadFailure(client, start, hi+schedSlack)
				require.ErrorIs(t, err, syscall.ETIMEDOUT, "after %v (model [%v, %v])", took, lo, hi)
				assert.GreaterOrEqual(t, took, lo, "never before the model")
				t.Logf("model [%v, %v] from the write, measured %v", lo, hi, took)
			})
		}
	}
}

// detection is the model for cfg with this host's system values.
func detection(t *testing.T, cfg keepalive.Config) keepalive.Detection {
	t.Helper()
	sys, err := keepalive.ReadSystem()
	require.NoError(t, err)
	d, err := cfg.Detection(sys)
	require.NoError(t, err)
	return d
}

// The control case: without the library (Go's own 15 s keepalive) the same
// dead peer is not detected within a bound several times the Config's.
func TestWithoutConfigStillHanging(t *testing.T) {
	t.Parallel()
	cfg := keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 1}
	bound := 3 * detection(t, cfg).IdleMax
	lb := testkit.Loopbacks(t)[0]
	client, server := testkit.Pair(t, lb, nil, (&net.Dialer{}).DialContext)
	deadpeer.Silence(t, server)
	took, err := testkit.ReadFailure(client, time.Now(), bound)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "still open after %v", took)
}

// In a private network namespace (root): the tcp_retries2 path with data in
// flight and no UserTimeout, measured against the model read from the
// lowered sysctl.
func TestDetectInFlightRetries2(t *testing.T) {
	t.Parallel()
	if !keepalivetest.InNetNS(t, map[string]string{"net/ipv4/tcp_retries2": "3"}) {
		return
	}
	sys, err := keepalive.ReadSystem()
	require.NoError(t, err)
	require.Equal(t, 3, sys.Retries2)
	d := detection(t, keepalive.Config{})
	lo, hi := d.InFlightMin, d.InFlightMax
	require.Equal(t, 3*time.Second, lo, "(2^4-1) * 200ms")
	for _, lb := range testkit.Loopbacks(t) {
		t.Run(lb.Network, func(t *testing.T) {
			t.Parallel()
			client, server := testkit.Pair(t, lb, nil, keepalive.Config{Idle: 60 * time.Second}.Dial)
			deadpeer.Silence(t, server)
			start := time.Now()
			_, err := client.Write([]byte("are you there?"))
			require.NoError(t, err)
			// The budget is checked when a retransmission timer fires. On
			// loopback the RTO starts at 200 ms and doubles, so after R1 (a
			// tail-loss probe and one RTO, under 1 s after the write) the
			// timers fire at 0.4, 1.2, 2.8 and 6 s: the 3 s budget is found
			// spent at R1 + 6 s. The model's bound, budget + RTOMax, allows
			// far more; on loopback the last timer is 200ms << (retries2+1).
			loopbackHi := lo + 200*time.Millisecond<<(sys.Retries2+1) + time.Second
			require.Less(t, loopbackHi, hi)
			took, err := testkit.ReadFailure(client, start, loopbackHi+schedSlack)
			require.ErrorIs(t, err, syscall.ETIMEDOUT, "after %v", took)
			assert.GreaterOrEqual(t, took, lo+3*time.Second, "the timer that finds the budget spent fires at R1 + 6 s")
			t.Logf("model [%v, %v] from the write, measured %v", lo, hi, took)
		})
	}
}

// In a private network namespace (root): ReadSystem, the model and the
// kernel all follow changed sysctls, and a zero Config gets them.
func TestReadSystemFollowsSysctls(t *testing.T) {
	t.Parallel()
	if !keepalivetest.InNetNS(t, map[string]string{
		"net/ipv4/tcp_keepalive_time":   "2",
		"net/ipv4/tcp_keepalive_intvl":  "1",
		"net/ipv4/tcp_keepalive_probes": "2",
		"net/ipv4/tcp_retries2":         "7",
	}) {
		return
	}
	sys, err := keepalive.ReadSystem()
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, sys.Idle)
	assert.Equal(t, time.Second, sys.Interval)
	assert.Equal(t, 2, sys.Count)
	assert.Equal(t, 7, sys.Retries2)
	assert.Positive(t, sys.RTOMax)

	zero := keepalive.Config{}
	d := detection(t, zero)
	assert.Equal(t, 4*time.Second, d.Idle)
	assert.Equal(t, 6*time.Second, detection(t, keepalive.Config{Interval: 2 * time.Second}).Idle)

	lb := testkit.Loopbacks(t)[0]
	start := time.Now()
	client, server := testkit.Pair(t, lb, nil, zero.Dial)
	got, err := keepalive.Inspect(client)
	require.NoError(t, err)
	assert.Equal(t, keepalive.Config{Idle: 2 * time.Second, Interval: time.Second, Count: 2}, got)
	deadpeer.Silence(t, server)
	took, err := testkit.ReadFailure(client, start, d.IdleMax+schedSlack)
	require.ErrorIs(t, err, syscall.ETIMEDOUT)
	assert.GreaterOrEqual(t, took, d.Idle-jiffy)
	t.Logf("Config{} with sysctls 2/1/2: model %v, measured %v", d.Idle, took)
}

// A Multipath TCP peer: the connections Listen, Dialer and a Go
// ListenConfig with Control make are plain TCP, so a dead peer is found at
// the model's time, not net.mptcp.close_timeout (60 s) later, as a
// Multipath TCP connection's would be.
func TestDetectMultipathPeers(t *testing.T) {
	t.Parallel()
	needMPTCP(t)
	s := time.Second
	mptcpDial := func(ctx context.Context, network, address string) (net.Conn, error) {
		d := &net.Dialer{KeepAlive: -1}
		d.SetMultipathTCP(true)
		return d.DialContext(ctx, network, address)
	}
	for cname, cfg := range map[string]keepalive.Config{
		"no user timeout": {Idle: s, Interval: s, Count: 2},
		"user timeout":    {Idle: s, Interval: s, Count: 9, UserTimeout: 3 * s},
	} {
		for _, lb := range testkit.Loopbacks(t) {
			// Each case: the connection under test and its peer.
			cases := map[string]func(t *testing.T) (mine, peer net.Conn){
				"Listen, Multipath TCP client": func(t *testing.T) (net.Conn, net.Conn) {
					ln, err := cfg.Listen(context.Background(), lb.Network, lb.Addr)
					require.NoError(t, err)
					client, server := testkit.Pair(t, lb, ln, mptcpDial)
					return server, client
				},
				"Dialer over a Multipath TCP base, Multipath TCP listener": func(t *testing.T) (net.Conn, net.Conn) {
					base := &net.Dialer{}
					base.SetMultipathTCP(true)
					client, server := testkit.Pair(t, lb, mptcpListener(t, lb, true), cfg.Dialer(base).DialContext)
					return client, server
				},
				"Control in Go's ListenConfig, Multipath TCP client": func(t *testing.T) (net.Conn, net.Conn) {
					ln, err := (&net.ListenConfig{KeepAlive: -1, Control: cfg.Control}).Listen(context.Background(), lb.Network, lb.Addr)
					require.NoError(t, err)
					client, server := testkit.Pair(t, lb, ln, mptcpDial)
					return server, client
				},
			}
			for name, pair := range cases {
				t.Run(lb.Network+"/"+cname+"/"+name, func(t *testing.T) {
					t.Parallel()
					d := detection(t, cfg)
					start := time.Now()
					mine, peer := pair(t)
					require.False(t, mptcp(t, mine), "plain TCP")
					// A socket filter cannot be attached to a Multipath TCP
					// socket (EOPNOTSUPP): there, drop what reaches mine
					// instead, which its kernel cannot tell from a dead peer.
					if mptcp(t, peer) {
						deadpeer.Silence(t, mine)
					} else {
						deadpeer.Silence(t, peer)
					}
					require.Less(t, time.Since(start), cfg.Idle/2, "the peer went silent too late")
					took, err := testkit.ReadFailure(mine, start, d.IdleMax+schedSlack)
					require.ErrorIs(t, err, syscall.ETIMEDOUT, "after %v (model %v, worst case %v)", took, d.Idle, d.IdleMax)
					assert.GreaterOrEqual(t, took, d.IdleMin-jiffy, "never before the model")
					t.Logf("model %v, measured %v, worst case %v", d.Idle, took, d.IdleMax)
				})
			}
		}
	}
}
