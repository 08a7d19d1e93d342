package heartbeat_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/heartbeat"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// plainDial dials with no keepalive of Go's, for the side under no test.
func plainDial(ctx context.Context, network, address string) (net.Conn, error) {
	return (&net.Dialer{KeepAlive: -1}).DialContext(ctx, network, address)
}

// The heartbeat's hard close goes through a WatchConn wrapper, which reports
// the kernel's view before the socket closes: a hung peer's connection was
// open, not closed locally.
func TestHeartbeatThroughWatchConn(t *testing.T) {
	t.Parallel()
	client, _ := testkit.Pair(t, testkit.Loopbacks(t)[0], nil, plainDial) // the peer never answers a ping
	ends := make(chan keepalive.Cause, 1)
	w := keepalive.WatchConn(client, func(_ net.Conn, c keepalive.Cause, _ keepalive.Status) { ends <- c })
	m, err := heartbeat.NewMonitor(heartbeat.Config{Interval: 100 * time.Millisecond, Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	failed, onFail := failures()
	_, err = m.Start(w, bytePing(w), onFail)
	require.NoError(t, err)
	select {
	case <-failed:
	case <-time.After(5 * time.Second):
		t.Fatal("the heartbeat did not fail")
	}
	select {
	case c := <-ends:
		assert.Equal(t, keepalive.CauseOpen, c, "reported before the close, while TCP was open")
	case <-time.After(5 * time.Second):
		t.Fatal("OnEnd not called")
	}
}

// A panicking ping fails its Pinger, as a failed ping does, and closes that
// connection; the process and the Monitor go on.
func TestHeartbeatPingPanics(t *testing.T) {
	t.Parallel()
	client, _ := testkit.Pair(t, testkit.Loopbacks(t)[0], nil, plainDial)
	m, err := heartbeat.NewMonitor(heartbeat.Config{Interval: 50 * time.Millisecond, Timeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	failed, onFail := failures()
	_, err = m.Start(client, func(context.Context) error { panic("bug in the ping") }, onFail)
	require.NoError(t, err)
	select {
	case f := <-failed:
		assert.ErrorContains(t, f.err, "ping panicked: bug in the ping")
	case <-time.After(5 * time.Second):
		t.Fatal("the Pinger did not fail")
	}
	_, err = keepalive.StatusOf(client)
	assert.Error(t, err, "the connection was closed")
	assert.Equal(t, 0, m.Len(), "the Monitor goes on, without it")
}

// The hard close reaches the socket through TLS. With the hook above TLS,
// as WatchDial around a TLS dialer puts it, and the send buffer full (a
// dead peer), tls.Conn's graceful Close would wait 5 s for its
// close_notify to be written: the socket closes first, so onFail and a
// blocked Read come at once.
func TestHeartbeatHardCloseThroughTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	cert := srv.TLS.Certificates[0]
	srv.Close()
	lb := testkit.Loopbacks(t)[0]
	ln, err := net.Listen(lb.Network, lb.Addr)
	require.NoError(t, err)
	tcp, server := testkit.Pair(t, lb, ln, plainDial)
	peer := tls.Server(server, &tls.Config{Certificates: []tls.Certificate{cert}})
	client := tls.Client(tcp, &tls.Config{InsecureSkipVerify: true})
	handshake := make(chan error, 1)
	go func() { handshake <- peer.Handshake() }()
	require.NoError(t, client.Handshake())
	require.NoError(t, <-handshake)
	// The peer reads no more: fill both buffers under TLS, as unsent data
	// to a dead peer would, to the last byte.
	for _, size := range []int{1 << 16, 1} {
		junk := make([]byte, size)
		for {
			tcp.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := tcp.Write(junk); err != nil {
				require.ErrorIs(t, err, os.ErrDeadlineExceeded)
				break
			}
		}
	}
	tcp.SetWriteDeadline(time.Time{})

	ends := make(chan keepalive.Cause, 1)
	conn := keepalive.WatchConn(client, func(_ net.Conn, c keepalive.Cause, _ keepalive.Status) { ends <- c })
	m, err := heartbeat.NewMonitor(heartbeat.Config{Interval: 50 * time.Millisecond, Timeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	var pinged atomic.Int64
	failed, onFail := failures()
	_, err = m.Start(conn, func(context.Context) error {
		pinged.Store(time.Now().UnixNano())
		return errors.New("no answer")
	}, onFail)
	require.NoError(t, err)
	read := make(chan time.Time, 1)
	go func() {
		var b [1]byte
		conn.Read(b[:])
		read <- time.Now()
	}()
	var f failure
	select {
	case f = <-failed:
	case <-time.After(10 * time.Second):
		t.Fatal("the heartbeat did not fail")
	}
	ping := time.Unix(0, pinged.Load())
	// 5 s before the fix; the bound leaves a loaded machine room.
	assert.Less(t, f.at.Sub(ping), 2*time.Second, "onFail after the ping failed")
	select {
	case at := <-read:
		assert.Less(t, at.Sub(ping), 2*time.Second, "the blocked Read returned")
	case <-time.After(5 * time.Second):
		t.Fatal("the blocked Read did not return")
	}
	assert.Equal(t, keepalive.CauseOpen, <-ends, "the hook reported before the close")
}

// A panic in onFail, or in an OnEnd the hard close runs, stays in the
// Monitor: the process goes on, and so do the other connections' pings.
func TestHeartbeatCallbackPanics(t *testing.T) {
	t.Parallel()
	lb := testkit.Loopbacks(t)[0]
	m, err := heartbeat.NewMonitor(heartbeat.Config{Interval: 20 * time.Millisecond, Timeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	fail := func(context.Context) error { return errors.New("no answer") }

	c1, _ := testkit.Pair(t, lb, nil, plainDial)
	_, err = m.Start(c1, fail, func(error) { panic("bug in onFail") })
	require.NoError(t, err)
	c2, _ := testkit.Pair(t, lb, nil, plainDial)
	w2 := keepalive.WatchConn(c2, func(net.Conn, keepalive.Cause, keepalive.Status) { panic("bug in OnEnd") })
	failed, onFail := failures()
	_, err = m.Start(w2, fail, onFail)
	require.NoError(t, err)
	select {
	case <-failed: // onFail still runs after the OnEnd's panic
	case <-time.After(5 * time.Second):
		t.Fatal("onFail not called after a panicking OnEnd")
	}
	for _, c := range []net.Conn{c1, c2} {
		require.Eventually(t, func() bool { _, err := keepalive.StatusOf(c); return err != nil },
			5*time.Second, 10*time.Millisecond, "closed despite the panic")
	}
	c3, _ := testkit.Pair(t, lb, nil, plainDial)
	var pings atomic.Int32
	_, err = m.Start(c3, func(context.Context) error { pings.Add(1); return nil }, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return pings.Load() >= 2 }, 5*time.Second, 10*time.Millisecond, "the Monitor goes on")
}

// Every ping's context ends, also after a ping that succeeded: a ping that
// waits on ctx.Done() in a goroutine must not leak it.
func TestHeartbeatPingContextEnds(t *testing.T) {
	t.Parallel()
	client, _ := testkit.Pair(t, testkit.Loopbacks(t)[0], nil, plainDial)
	m, err := heartbeat.NewMonitor(heartbeat.Config{Interval: 5 * time.Millisecond, Timeout: time.Hour})
	require.NoError(t, err)
	var started, ended atomic.Int32
	w, err := m.Start(client, func(ctx context.Context) error {
		started.Add(1)
		go func() {
			<-ctx.Done()
			ended.Add(1)
		}()
		return nil
	}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return started.Load() >= 20 }, 5*time.Second, time.Millisecond)
	w.Stop()
	require.NoError(t, m.Close())
	assert.Eventually(t, func() bool { return ended.Load() == started.Load() }, 5*time.Second, time.Millisecond,
		"every ping's context done (%d of %d)", ended.Load(), started.Load())
}
