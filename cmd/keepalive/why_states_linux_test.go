package main

import (
	"errors"
	"net"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/keepalivetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWhyClosedByItsProgram: a FIN-WAIT-2 or TIME-WAIT socket its program
// closed is held by no process and has no tcp_info: why must say so, not
// "run as root" (as root), nor "last received 0s ago".
func TestWhyClosedByItsProgram(t *testing.T) {
	t.Parallel()
	if !keepalivetest.InNetNS(t, nil) { // root: every process's descriptors are readable
		return
	}
	lb := testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}
	finWait, _ := testkit.Pair(t, lb, nil, (&net.Dialer{KeepAlive: -1}).DialContext) // the peer never closes
	timeWait, peer := testkit.Pair(t, lb, nil, (&net.Dialer{KeepAlive: -1}).DialContext)
	ends := map[string][2]string{
		"fin-wait-2": {finWait.LocalAddr().String(), finWait.RemoteAddr().String()},
		"time-wait":  {timeWait.LocalAddr().String(), timeWait.RemoteAddr().String()},
	}
	require.NoError(t, finWait.Close())
	require.NoError(t, timeWait.Close())
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := peer.Read(make([]byte, 1))
	require.Error(t, err)
	require.NoError(t, peer.Close())

	for state, e := range ends {
		require.Eventually(t, func() bool {
			w := decode[whyOut](t, keepaliveCmd(t, "why", "--json", e[0], e[1]))
			return len(w.Connections) == 1 && w.Connections[0].State == state
		}, 5*time.Second, 20*time.Millisecond, state)
		r := keepaliveCmd(t, "why", e[0], e[1])
		require.Equal(t, 0, r.code, r.stderr)
		t.Logf("keepalive why (%s):\n%s", state, r.stdout)
		assert.NotContains(t, r.stdout, "run as root", "%s: run as root already", state)
		assert.Contains(t, r.stdout, "Held by: no process: its program closed it", state)
		assert.NotContains(t, r.stdout, "0s ago", state)
		assert.Contains(t, r.stdout, "Last received: unknown", state)
	}
}

// TestWhyKillBothEnds: --kill with one address that both ends of a
// loopback connection have ends the first, and with it the second, which
// the reset closed: that is no failure.
func TestWhyKillBothEnds(t *testing.T) {
	t.Parallel()
	if !keepalivetest.InNetNS(t, nil) { // root: CAP_NET_ADMIN
		return
	}
	client, server := testkit.Pair(t, testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}, nil, (&net.Dialer{KeepAlive: -1}).DialContext)
	addr := server.LocalAddr().String()
	r := keepaliveCmd(t, "why", "--kill", "--yes", addr)
	t.Logf("keepalive why --kill --yes %s: exit %d\n%s%s", addr, r.code, r.stdout, r.stderr)
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.NotContains(t, r.stderr, "gone already")
	assert.Contains(t, r.stdout, "ended "+addr+" -> "+client.LocalAddr().String())
	assert.Contains(t, r.stdout, "ended "+client.LocalAddr().String()+" -> "+addr)
	assert.Contains(t, r.stdout, "with its other end")
	for _, c := range []net.Conn{client, server} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 1))
		assert.True(t, errIs(err, syscall.ECONNABORTED, syscall.ECONNRESET), "%v", err)
	}
}

func errIs(err error, errnos ...syscall.Errno) bool {
	for _, e := range errnos {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// TestWhyListener: why on a listening address with no connection
// describes the listener, which conns and ss list, instead of "no TCP
// connection"; --kill leaves it alone.
func TestWhyListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	addr := ln.Addr().String()

	w := decode[whyOut](t, keepaliveCmd(t, "why", "--json", addr))
	require.Len(t, w.Connections, 1)
	c := w.Connections[0]
	assert.Equal(t, "listen", c.State)
	assert.Equal(t, addr, c.Local)
	require.Len(t, c.Holders, 1)
	assert.Equal(t, os.Getpid(), c.Holders[0].PID)
	assert.Contains(t, c.Verdict.Cause, "listening")

	r := keepaliveCmd(t, "why", addr)
	require.Equal(t, 0, r.code, r.stderr)
	t.Logf("keepalive why %s:\n%s", addr, r.stdout)
	assert.Contains(t, r.stdout, addr+": LISTEN")
	assert.Contains(t, r.stdout, "connection(s) waiting to be accepted")
	assert.Contains(t, r.stdout, "Held by: keepalive.test (pid "+strconv.Itoa(os.Getpid()))

	r = keepaliveCmd(t, "why", "--kill", "--yes", addr)
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "is a listener, not a connection: not ended")
	conn, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	require.NoError(t, err, "the listener still accepts")
	conn.Close()
}

// TestConnsListenerQueue: a listener's tcpi_unacked is its accept queue,
// not segments unacknowledged: conns shows it as accept_queue in the JSON
// and leaves UNACKED empty ("-") in the table.
func TestConnsListenerQueue(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	for range 2 { // waiting in the accept queue: never accepted
		c, err := net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	var out struct {
		Connections []connSS `json:"connections"`
	}
	require.Eventually(t, func() bool {
		out = decode[struct {
			Connections []connSS `json:"connections"`
		}](t, keepaliveCmd(t, "conns", "--port", port, "--state", "listen", "--json"))
		return len(out.Connections) == 1 && out.Connections[0].AcceptQ != nil && *out.Connections[0].AcceptQ == 2
	}, 5*time.Second, 20*time.Millisecond, "2 in the accept queue")
	assert.Zero(t, out.Connections[0].Unacked)

	r := keepaliveCmd(t, "conns", "--port", port, "--state", "listen")
	require.Equal(t, 0, r.code, r.stderr)
	t.Logf("keepalive conns:\n%s", r.stdout)
	assert.Regexp(t, `(?m)^listen +`+regexp.QuoteMeta(ln.Addr().String())+` +\S+ +unknown +- +0 +0 +- +`, r.stdout)
}
