package keepalive_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/internal/testkit/deadpeer"
)

var loopback4 = testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}

// waitClosed waits, for up to 5 s, until conn's state is CLOSE.
func waitClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, err := keepalive.StatusOf(conn)
		return err == nil && st.State == keepalive.StateClosed
	}, 5*time.Second, 5*time.Millisecond, "the socket did not reach CLOSE")
}

// A graceful half-close leaves CLOSE with no counters and nothing pending,
// as a reset whose error a call took does: never "reset by peer". The hook,
// which saw this side's CloseWrite, says closed by peer.
func TestCauseHalfClose(t *testing.T) {
	t.Parallel()
	cases := map[string]func(t *testing.T, hooked, peer net.Conn) error{
		// A proxy: the peer's FIN, then this side's.
		"this side's FIN after the peer's": func(t *testing.T, hooked, peer net.Conn) error {
			require.NoError(t, peer.(*net.TCPConn).CloseWrite())
			_, err := hooked.Read(make([]byte, 1))
			require.ErrorIs(t, err, io.EOF)
			require.NoError(t, hooked.(interface{ CloseWrite() error }).CloseWrite())
			return err
		},
		"this side's FIN first": func(t *testing.T, hooked, peer net.Conn) error {
			require.NoError(t, hooked.(interface{ CloseWrite() error }).CloseWrite())
			_, err := io.ReadAll(peer)
			require.NoError(t, err)
			require.NoError(t, peer.Close())
			return nil
		},
		// io.Copy reads the hooked side through WriteTo (splice, or
		// the generic copy), not Read.
		"io.Copy, then CloseWrite": func(t *testing.T, hooked, peer net.Conn) error {
			require.NoError(t, peer.(*net.TCPConn).CloseWrite())
			_, err := io.Copy(io.Discard, hooked)
			require.NoError(t, err)
			require.NoError(t, hooked.(interface{ CloseWrite() error }).CloseWrite())
			return io.EOF
		},
	}
	for name, end := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnds()
			hooked, peer := testkit.Pair(t, loopback4, nil, keepalive.WatchDial(plainDial, e.hook))
			said := end(t, hooked, peer)
			waitClosed(t, hooked)
			cause, st, err := keepalive.CauseOf(hooked, said)
			require.NoError(t, err)
			t.Logf("CauseOf(%v): %v, %v", said, cause, st)
			assert.Equal(t, keepalive.CauseUnknown, cause, "EOF and CLOSE: a FIN exchange, or a reset whose error a call took")
			assert.Equal(t, time.Duration(0), st.GiveUp, "the kernel has dropped it")
			require.NoError(t, hooked.Close())
			assert.Equal(t, []keepalive.Cause{keepalive.CausePeerClosed}, e.wait(t, 1))
		})
	}
}

// net/http behind WatchListener refuses an upload with MaxBytesReader: it
// answers, half-closes and, half a second later, closes; the client has
// read the answer to the end and closed by then. No reset is sent.
func TestCauseMaxBytesReader(t *testing.T) {
	t.Parallel()
	e := newEnds()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1024))
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
	}))
	srv.Listener = keepalive.WatchListener(ln, e.hook)
	srv.Start()
	defer srv.Close()
	client, err := net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
	require.NoError(t, err)
	defer client.Close()
	require.NoError(t, client.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = client.Write(append([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n"), make([]byte, 4096)...))
	require.NoError(t, err)
	resp, err := io.ReadAll(client) // to the server's FIN
	require.NoError(t, err)
	assert.Contains(t, string(resp), "413")
	require.NoError(t, client.Close())
	causes := e.wait(t, 1)
	t.Logf("the hook: %v, %v", causes, e.sts[0])
	assert.Equal(t, []keepalive.Cause{keepalive.CausePeerClosed}, causes)
}

// ss runs `ss -K dst 127.0.0.1 dport = :port` (SOCK_DESTROY), or skips.
func ssKill(t *testing.T, port int) {
	t.Helper()
	ss, err := exec.LookPath("ss")
	if err != nil {
		testkit.Skip(t, "skipping: ss is not installed (apt-get install iproute2)")
	}
	if os.Geteuid() != 0 {
		testkit.Skip(t, "skipping: ss -K needs CAP_NET_ADMIN (run as root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ss, "-K", "dst", "127.0.0.1", "dport", "=", ":"+strconv.Itoa(port)).CombinedOutput()
	t.Logf("ss -K: %v\n%s", err, out)
}

// A socket destroyed by an administrator (ss -K, keepalive why --kill):
// aborted locally, before the Read takes ECONNABORTED and after.
func TestCauseAborted(t *testing.T) {
	t.Parallel()
	for _, when := range []string{"before the read", "after the read", "hooked"} {
		t.Run(when, func(t *testing.T) {
			t.Parallel()
			e := newEnds()
			dial := plainDial
			if when == "hooked" {
				dial = keepalive.WatchDial(plainDial, e.hook)
			}
			client, server := testkit.Pair(t, loopback4, nil, dial)
			var r <-chan error
			if when != "before the read" {
				r = reader(client, 10*time.Second)
				time.Sleep(50 * time.Millisecond) // the Read blocks
			}
			ssKill(t, server.LocalAddr().(*net.TCPAddr).Port)
			waitClosed(t, client)
			var rerr error
			if r != nil {
				rerr = <-r
				assert.ErrorIs(t, rerr, syscall.ECONNABORTED)
			}
			if when == "hooked" {
				require.NoError(t, client.Close())
				assert.Equal(t, []keepalive.Cause{keepalive.CauseAborted}, e.wait(t, 1))
				return
			}
			cause, st, err := keepalive.CauseOf(client, rerr)
			require.NoError(t, err)
			t.Logf("read said %v; CauseOf: %v, %v", rerr, cause, st)
			assert.Equal(t, keepalive.CauseAborted, cause)
			assert.Equal(t, "aborted locally (SOCK_DESTROY)", cause.String())
		})
	}
}

// A reset while data is retransmitted (the peer restarted), and one while
// keepalive probes under a user timeout: the Read got ECONNRESET, and
// that decides. Without it the kernel's state reads as a timeout's, so
// CauseOf says unknown.
func TestCauseResetMidTimer(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]keepalive.Config{
		"retransmitting":        {Idle: 30 * time.Second, UserTimeout: 30 * time.Second},
		"probing, user timeout": {Idle: time.Second, Interval: 2 * time.Second, Count: 5, UserTimeout: 20 * time.Second},
	} {
		for _, hook := range []bool{false, true} {
			t.Run(name+map[bool]string{true: ", hooked"}[hook], func(t *testing.T) {
				t.Parallel()
				e := newEnds()
				dial := cfg.Dialer(nil).DialContext
				if hook {
					dial = keepalive.WatchDial(dial, e.hook)
				}
				client, server := testkit.Pair(t, loopback4, nil, dial)
				deadpeer.Silence(t, server)
				if cfg.UserTimeout == cfg.Idle {
					_, err := client.Write([]byte("x"))
					require.NoError(t, err)
				}
				require.Eventually(t, func() bool {
					st, err := keepalive.StatusOf(client)
					return err == nil && (st.Retransmits > 0 || st.Probes > 0)
				}, 10*time.Second, 10*time.Millisecond)
				r := reader(client, 10*time.Second)
				require.NoError(t, server.(*net.TCPConn).SetLinger(0))
				require.NoError(t, server.Close()) // the reset leaves the silenced socket
				rerr := <-r
				require.ErrorIs(t, rerr, syscall.ECONNRESET)
				if hook {
					require.NoError(t, client.Close())
					assert.Equal(t, []keepalive.Cause{keepalive.CauseReset}, e.wait(t, 1))
					return
				}
				cause, st, err := keepalive.CauseOf(client, rerr)
				require.NoError(t, err)
				t.Logf("read said %v; CauseOf: %v, %v", rerr, cause, st)
				assert.Equal(t, keepalive.CauseReset, cause)
				assert.False(t, cause.PeerDead())
				blind, _, err := keepalive.CauseOf(client, nil)
				require.NoError(t, err)
				assert.Equal(t, keepalive.CauseUnknown, blind, "the same state as a timeout's")
			})
		}
	}
}

// Under a user timeout the kernel gives up after the probes that fit in
// it, max(1, ceil((UserTimeout-Idle)/Interval)), not Count: 2 of 9 here.
func TestCauseKeepAliveUserTimeout(t *testing.T) {
	t.Parallel()
	cfg := keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 9, UserTimeout: 2500 * time.Millisecond}
	client, server := pairWith(t, cfg)
	deadpeer.Silence(t, server)
	rerr := <-reader(client, 20*time.Second)
	require.ErrorIs(t, rerr, syscall.ETIMEDOUT)
	blind, st, err := keepalive.CauseOf(client, nil)
	require.NoError(t, err)
	t.Logf("read said %v; CauseOf(nil): %v, %v", rerr, blind, st)
	assert.Equal(t, 2, st.Probes)
	assert.Equal(t, keepalive.CauseKeepAlive, blind, "the probes that fit are spent")
	cause, _, err := keepalive.CauseOf(client, rerr)
	require.NoError(t, err)
	assert.Equal(t, keepalive.CauseKeepAlive, cause)
}

// A TCP socket that never connected (never asked to, refused, still
// connecting): its cause is unknown, and its times since the last segment
// (counted from boot), window and queues are unknown, not hours and zero.
func TestCauseNeverConnected(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	// A listener with a backlog of 0 and its queue full drops the next
	// SYN: that connect stays in SYN_SENT.
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	defer syscall.Close(lfd)
	require.NoError(t, syscall.Bind(lfd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, syscall.Listen(lfd, 0))
	full, err := syscall.Getsockname(lfd)
	require.NoError(t, err)

	socket := func(t *testing.T, to syscall.Sockaddr) *os.File {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
		require.NoError(t, err)
		f := os.NewFile(uintptr(fd), "tcp")
		t.Cleanup(func() { f.Close() })
		if to != nil {
			err := syscall.Connect(fd, to)
			t.Logf("connect: %v", err)
			time.Sleep(50 * time.Millisecond) // the refusal, or the handshake, has come
		}
		return f
	}
	for name, to := range map[string]syscall.Sockaddr{
		"never connected": nil,
		"refused":         &syscall.SockaddrInet4{Port: closedPort, Addr: [4]byte{127, 0, 0, 1}},
		"connecting":      full,
	} {
		t.Run(name, func(t *testing.T) {
			if name == "connecting" {
				socket(t, full) // fills the queue
			}
			f := socket(t, to)
			rc, err := f.SyscallConn()
			require.NoError(t, err)
			cause, _, err := keepalive.CauseOfRawConn(rc, nil)
			require.NoError(t, err)
			st, err := keepalive.StatusOfRawConn(rc)
			require.NoError(t, err)
			t.Logf("CauseOfRawConn: %v; StatusOfRawConn: %v", cause, st)
			assert.Equal(t, keepalive.CauseUnknown, cause)
			assert.Equal(t, map[bool]keepalive.State{false: keepalive.StateClosed, true: keepalive.StateSynSent}[name == "connecting"], st.State)
			for _, f := range []keepalive.Field{keepalive.FieldSinceRecv, keepalive.FieldSinceAck, keepalive.FieldZeroWindow,
				keepalive.FieldRTT, keepalive.FieldUnsent, keepalive.FieldUnacked, keepalive.FieldGiveUp} {
				assert.False(t, st.Has(f), "%v known", f)
			}
			if name == "connecting" {
				return
			}
			// Through net.FileConn, as a net.Conn.
			conn, err := net.FileConn(f)
			if err != nil {
				t.Logf("net.FileConn: %v", err)
				return
			}
			defer conn.Close()
			cause, st, err = keepalive.CauseOf(conn, nil)
			require.NoError(t, err)
			assert.Equal(t, keepalive.CauseUnknown, cause, "%v", st)
		})
	}
}

// The hook's wrapper records errors only when a call fails: Read and Write
// allocate nothing more than the *net.TCPConn's.
func TestHookNoAllocations(t *testing.T) {
	// Not parallel: AllocsPerRun counts the whole process's allocations.
	if raceEnabled {
		t.Skip("skipping: the race detector allocates")
	}
	client, server := testkit.Pair(t, loopback4, nil, keepalive.WatchDial(plainDial, func(net.Conn, keepalive.Cause, keepalive.Status) {}))
	b := make([]byte, 64)
	var werr, rerr error
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		_, werr = client.Write(b)
		_, rerr = io.ReadFull(server, b)
		_, werr = server.Write(b)
		_, rerr = io.ReadFull(client, b)
	}))
	require.NoError(t, werr)
	require.NoError(t, rerr)
	require.NoError(t, client.SetReadDeadline(time.Now()))
	_, err := client.Read(b)
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded))
}
