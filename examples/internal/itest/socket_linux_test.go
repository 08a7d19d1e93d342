package itest

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit/deadpeer"
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

// The cause Ends records is what the examples' dead-peer tests rest on,
// so it must tell the kernel timing a connection out from the peer ending
// it, which a driver may report the same way (EOF).
func TestEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  keepalive.Config
		end  func(t *testing.T, client net.Conn, server *net.TCPConn) error
		want keepalive.Cause
	}{
		{"FIN", keepalive.Config{}, func(t *testing.T, client net.Conn, server *net.TCPConn) error {
			require.NoError(t, server.CloseWrite())
			return read(client)
		}, keepalive.CausePeerClosed},
		{"RST", keepalive.Config{}, func(t *testing.T, client net.Conn, server *net.TCPConn) error {
			require.NoError(t, server.SetLinger(0))
			require.NoError(t, server.Close())
			return read(client)
		}, keepalive.CauseReset},
		{"in flight", keepalive.Config{UserTimeout: time.Second}, func(t *testing.T, client net.Conn, server *net.TCPConn) error {
			deadpeer.Silence(t, server)
			_, err := client.Write([]byte("hello"))
			require.NoError(t, err)
			return read(client)
		}, keepalive.CauseRetransmit},
		{"idle", keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 1}, func(t *testing.T, client net.Conn, server *net.TCPConn) error {
			deadpeer.Silence(t, server)
			return read(client)
		}, keepalive.CauseKeepAlive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			ends := NewEnds()
			client, err := keepalive.WatchDial(tc.cfg.Dialer(nil).DialContext, ends.Hook)(context.Background(), "tcp4", ln.Addr().String())
			require.NoError(t, err)
			s, err := ln.Accept()
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			err = tc.end(t, client, s.(*net.TCPConn))
			t.Logf("read said %v", err)
			client.Close() // as a driver would
			assert.Equal(t, tc.want, ends.Wait(t, client, time.Second).Cause)
		})
	}
}

// read reads conn until it fails, for up to 10 s.
func read(conn net.Conn) error {
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.ReadAll(conn)
	if err == nil {
		err = io.EOF
	}
	return err
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
