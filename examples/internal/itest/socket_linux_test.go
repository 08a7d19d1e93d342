package itest

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// loopbackPair returns a loopback connection dialed with cfg, the server's end, and
// a duplicate of the client's socket, quiet.
func loopbackPair(t *testing.T, cfg keepalive.Config) (client, server *net.TCPConn, sock *Socket, q Quiet) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c, err := cfg.Dialer(&net.Dialer{KeepAlive: -1}).DialContext(context.Background(), "tcp4", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	sock = Dup(t, c)
	q, err = sock.Quiesce(time.Second)
	require.NoError(t, err)
	return c.(*net.TCPConn), s.(*net.TCPConn), sock, q
}

// TimedOut is what the examples' dead-peer tests rest on, so it must tell
// the kernel timing a connection out from the peer ending it, which a
// driver may report the same way (EOF).
func TestTimedOut(t *testing.T) {
	t.Run("FIN", func(t *testing.T) {
		t.Parallel()
		client, server, sock, q := loopbackPair(t, keepalive.Config{})
		require.NoError(t, server.CloseWrite())
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := client.Read(make([]byte, 1))
		require.ErrorIs(t, err, io.EOF)
		client.Close() // as a driver would; the duplicate keeps the socket CLOSE_WAIT
		assert.ErrorContains(t, sock.TimedOut(q, true), "not CLOSE")
		assert.ErrorContains(t, sock.TimedOut(q, false), "not CLOSE")
	})
	t.Run("RST", func(t *testing.T) {
		t.Parallel()
		client, server, sock, q := loopbackPair(t, keepalive.Config{})
		require.NoError(t, server.SetLinger(0))
		require.NoError(t, server.Close())
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := client.Read(make([]byte, 1))
		require.ErrorIs(t, err, syscall.ECONNRESET)
		assert.ErrorContains(t, sock.TimedOut(q, true), "arrived after the peer went silent")
	})
	t.Run("in flight", func(t *testing.T) {
		t.Parallel()
		client, server, sock, q := loopbackPair(t, keepalive.Config{UserTimeout: time.Second})
		testkit.SilenceOrSkip(t, server)
		_, err := client.Write([]byte("hello"))
		require.NoError(t, err)
		client.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = client.Read(make([]byte, 1))
		require.ErrorIs(t, err, syscall.ETIMEDOUT)
		assert.NoError(t, sock.TimedOut(q, true))
		assert.ErrorContains(t, sock.TimedOut(q, false), "without keepalive probes")
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		client, server, sock, q := loopbackPair(t, keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 1})
		testkit.SilenceOrSkip(t, server)
		client.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := client.Read(make([]byte, 1))
		require.True(t, errors.Is(err, syscall.ETIMEDOUT), "%v", err)
		assert.NoError(t, sock.TimedOut(q, false))
		assert.ErrorContains(t, sock.TimedOut(q, true), "without a retransmission timeout")
	})
}

// Released tells the driver closing its descriptor from the duplicate
// keeping the socket open, also once a new socket has the freed number.
func TestReleased(t *testing.T) {
	t.Parallel()
	client, _, sock, _ := loopbackPair(t, keepalive.Config{})
	assert.False(t, sock.Released())
	require.NoError(t, client.Close())
	assert.True(t, sock.WaitReleased(time.Second))
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0) // lowest free number
	require.NoError(t, err)
	defer unix.Close(fd)
	assert.True(t, sock.Released(), "descriptor %d, the driver's was %d", fd, sock.driverFD)
	info, err := sock.Info()
	require.NoError(t, err)
	assert.Equal(t, uint8(unix.BPF_TCP_ESTABLISHED), info.State, "the duplicate holds the socket open")
}
