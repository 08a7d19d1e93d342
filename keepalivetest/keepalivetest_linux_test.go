package keepalivetest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

// TestMain checks that the tests leave no descriptor, goroutine or child
// process (a holder, a namespace's process) behind.
func TestMain(m *testing.M) {
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close() // the poller's own descriptors are not a leak
	}
	fds, goroutines := countFDs(), runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for {
			f, g, c := countFDs(), runtime.NumGoroutine(), children()
			if f <= fds && g <= goroutines && c == "" {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "leaked: %d descriptors other than pipes (%d before), %d goroutines (%d before), children %q\n", f, fds, g, goroutines, c)
				code = 1
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	os.Exit(code)
}

// countFDs counts sockets and files, not pipes: io.Copy's splice keeps
// a pool of pipes that the garbage collector closes.
func countFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	n := 0
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); !strings.HasPrefix(l, "pipe:") {
			n++
		}
	}
	return n
}

func children() string {
	var all []string
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, p := range tasks {
		b, _ := os.ReadFile(p)
		if s := strings.TrimSpace(string(b)); s != "" {
			all = append(all, s)
		}
	}
	return strings.Join(all, " ")
}

var cfg = keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 2, UserTimeout: 2 * time.Second}

// bound is cfg's model for what with a second for a loaded machine.
func bound(t *testing.T, what string) time.Duration {
	sys, err := keepalive.ReadSystem()
	require.NoError(t, err)
	d, err := cfg.Detection(sys)
	require.NoError(t, err)
	if what == "idle" {
		return d.IdleMax + time.Second
	}
	return d.InFlightMax + time.Second
}

// listen returns a Listener on loopback and a client connected to it with
// cfg, and the client's peer.
func listen(t *testing.T) (*keepalivetest.Listener, net.Conn, *keepalivetest.Conn) {
	t.Helper()
	lc := net.ListenConfig{KeepAlive: -1}
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l, err := keepalivetest.NewListener(ln)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	client, err := cfg.Dial(context.Background(), "tcp", l.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	peer, err := l.Accept()
	require.NoError(t, err)
	return l, client, peer.(*keepalivetest.Conn)
}

func read(conn net.Conn) func(context.Context) error {
	return func(ctx context.Context) error {
		stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
		defer stop()
		_, err := io.Copy(io.Discard, conn)
		if err == nil {
			err = io.EOF
		}
		return err
	}
}

// Each fault ends the client's connection as its real counterpart does,
// within the model's bound.
func TestFaults(t *testing.T) {
	t.Parallel()
	if !keepalivetest.InNetNS(t, nil) {
		return
	}
	for _, tc := range []struct {
		fault  keepalivetest.Fault
		write  bool // data in flight: a hung or held peer's kernel answers probes
		want   error
		cause  keepalive.Cause
		within string
	}{
		{keepalivetest.Silent, false, syscall.ETIMEDOUT, keepalive.CauseKeepAlive, "idle"},
		{keepalivetest.Silent, true, syscall.ETIMEDOUT, keepalive.CauseRetransmit, "in flight"},
		{keepalivetest.Reset, false, syscall.ECONNRESET, keepalive.CauseReset, "idle"},
		{keepalivetest.Hung, true, syscall.ETIMEDOUT, keepalive.CauseZeroWindow, "in flight"},
		{keepalivetest.Held, true, syscall.ETIMEDOUT, keepalive.CauseZeroWindow, "in flight"},
	} {
		name := tc.fault.String()
		if tc.write {
			name += "/writing"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l, client, peer := listen(t)
			if tc.fault == keepalivetest.Silent && !tc.write {
				require.NoError(t, l.FailAll(tc.fault))
			} else {
				require.NoError(t, peer.Fail(tc.fault))
			}
			assert.Equal(t, tc.fault, peer.Fault())
			op := read(client)
			if tc.write {
				op = func(ctx context.Context) error {
					stop := context.AfterFunc(ctx, func() { client.SetWriteDeadline(time.Now()) })
					defer stop()
					buf := make([]byte, 64<<10)
					for {
						if _, err := client.Write(buf); err != nil {
							return err
						}
					}
				}
			}
			took, err := keepalivetest.EndsWithin(t, bound(t, tc.within), client, op)
			require.ErrorIs(t, err, tc.want)
			cause, _, cerr := keepalive.CauseOf(client, err)
			require.NoError(t, cerr)
			assert.Equal(t, tc.cause, cause)
			t.Logf("%v: %v after %v", tc.fault, cause, took.Round(time.Millisecond))
		})
	}
}

// A Proxy's connections fail on command; the next one works, or fails as
// FailNext said.
func TestProxy(t *testing.T) {
	t.Parallel()
	if !keepalivetest.InNetNS(t, nil) {
		return
	}
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	p, err := keepalivetest.Proxy("tcp", echo.Addr().String())
	require.NoError(t, err)
	defer p.Close()
	roundTrip := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		defer c.SetDeadline(time.Time{})
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, 4))
		return err
	}
	c1, err := cfg.Dial(context.Background(), "tcp", p.Addr().String())
	require.NoError(t, err)
	defer c1.Close()
	require.NoError(t, roundTrip(c1))
	require.NoError(t, p.FailAll(keepalivetest.Silent))
	c2, err := cfg.Dial(context.Background(), "tcp", p.Addr().String())
	require.NoError(t, err)
	defer c2.Close()
	require.NoError(t, roundTrip(c2), "a new connection works")
	require.NoError(t, p.FailNext(keepalivetest.Reset))
	// The RST can beat the dial's own check of the handshake.
	c3, err3 := cfg.Dial(context.Background(), "tcp", p.Addr().String())
	if err3 != nil {
		require.ErrorIs(t, err3, syscall.ECONNRESET)
	} else {
		defer c3.Close()
	}
	_, err = keepalivetest.EndsWithin(t, bound(t, "idle"), c1, read(c1))
	require.ErrorIs(t, err, syscall.ETIMEDOUT)
	if err3 == nil {
		_, err = keepalivetest.EndsWithin(t, time.Second, c3, read(c3))
		require.ErrorIs(t, err, syscall.ECONNRESET)
	}
	require.Len(t, p.Conns(), 3)
}

// recorder keeps what EndsWithin reports.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Error(args ...any) { r.errs = append(r.errs, fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Logf(string, ...any) {}

// EndsWithin tells code that never noticed from code that ignored the
// kernel's error.
func TestEndsWithinReports(t *testing.T) {
	t.Parallel()
	if !keepalivetest.InNetNS(t, nil) {
		return
	}
	t.Run("never noticed", func(t *testing.T) {
		t.Parallel()
		_, _, peer := listen(t)
		// A client without keepalive, like Go's with KeepAlive -1.
		d := net.Dialer{KeepAlive: -1}
		client, err := d.Dial("tcp", peer.LocalAddr().String())
		require.NoError(t, err)
		defer client.Close()
		l2, err := keepalivetest.NewListener(mustListen(t))
		require.NoError(t, err)
		defer l2.Close()
		c, err := d.Dial("tcp", l2.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, l2.FailNext(keepalivetest.Silent))
		_, err = l2.Accept()
		require.NoError(t, err)
		r := &recorder{TB: t}
		keepalivetest.EndsWithin(r, 300*time.Millisecond, c, read(c))
		require.Len(t, r.errs, 1)
		t.Log(r.errs[0])
		assert.Contains(t, r.errs[0], "still blocked after")
		assert.Contains(t, r.errs[0], "the code never noticed")
		assert.Contains(t, r.errs[0], "SO_KEEPALIVE off")
	})
	t.Run("ignored the error", func(t *testing.T) {
		t.Parallel()
		_, client, peer := listen(t)
		require.NoError(t, peer.Fail(keepalivetest.Silent))
		r := &recorder{TB: t}
		// The code waits on something else and never reads the connection.
		keepalivetest.EndsWithin(r, bound(t, "idle"), client, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		require.Len(t, r.errs, 1)
		t.Log(r.errs[0])
		assert.Contains(t, r.errs[0], "the kernel noticed (keepalive timeout")
		assert.Contains(t, r.errs[0], "ignored the error")
	})
	t.Run("conn only", func(t *testing.T) {
		t.Parallel()
		_, client, peer := listen(t)
		require.NoError(t, peer.Fail(keepalivetest.Silent))
		_, err := keepalivetest.EndsWithin(t, bound(t, "idle"), client, nil)
		require.NoError(t, err)
	})
}

func mustListen(t *testing.T) net.Listener {
	lc := net.ListenConfig{KeepAlive: -1}
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

// Bad input gets an error that says what is wrong; nothing panics.
func TestBadInput(t *testing.T) {
	t.Parallel()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer udp.Close()
	uc, err := net.Dial("udp", udp.LocalAddr().String())
	require.NoError(t, err)
	defer uc.Close()
	unixLn, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	require.NoError(t, err)
	defer unixLn.Close()
	mptcp := net.ListenConfig{}
	mptcp.SetMultipathTCP(true)
	mln, err := mptcp.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer mln.Close()
	var md net.Dialer
	md.SetMultipathTCP(true)
	mc, err := md.Dial("tcp", mln.Addr().String())
	require.NoError(t, err)
	defer mc.Close()
	ms, err := mln.Accept()
	require.NoError(t, err)
	defer ms.Close()

	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil conn", keepalivetest.Silence(nil), "nil net.Conn"},
		{"udp", keepalivetest.Silence(uc), "not a TCP connection"},
		{"not a socket", keepalivetest.Silence(pipe(t)), "is not a socket"},
		{"mptcp", keepalivetest.Silence(ms), "Multipath TCP"},
		{"nil listener", second(keepalivetest.NewListener(nil)), "nil listener"},
		{"unix listener", second(keepalivetest.NewListener(unixLn)), "not TCP"},
		{"proxy network", second(keepalivetest.Proxy("udp", "127.0.0.1:1")), `network "udp"`},
		{"proxy address", second(keepalivetest.Proxy("tcp", "")), "empty address"},
		{"nil Conn", (*keepalivetest.Conn)(nil).Fail(keepalivetest.Silent), "nil *Conn"},
	} {
		require.Error(t, tc.err, tc.name)
		assert.Contains(t, tc.err.Error(), tc.want, tc.name)
	}
	l, err := keepalivetest.NewListener(mustListen(t))
	require.NoError(t, err)
	defer l.Close()
	assert.ErrorContains(t, l.FailNext(0), "not a Fault")
	assert.ErrorContains(t, l.FailAll(keepalivetest.Fault(9)), "fault(9): not a Fault")
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	peer, err := l.Accept()
	require.NoError(t, err)
	p := peer.(*keepalivetest.Conn)
	require.NoError(t, p.Fail(keepalivetest.Hung))
	assert.ErrorContains(t, p.Fail(keepalivetest.Reset), "hung already")
	require.NoError(t, p.Close())
	assert.ErrorIs(t, p.Fail(keepalivetest.Reset), net.ErrClosed)
	pr, err := keepalivetest.Proxy("tcp", "127.0.0.1:1")
	require.NoError(t, err)
	defer pr.Close()
	_, err = pr.Accept()
	assert.ErrorContains(t, err, "accepts by itself")
}

func pipe(t *testing.T) net.Conn {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a
}

func second[T any](_ T, err error) error { return err }

// Without CAP_NET_ADMIN the kernel refuses, and the error says why.
func TestRefused(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("skipping: root has CAP_NET_ADMIN; run as another user (.ci/run does, with setpriv)")
	}
	_, _, peer := listen(t)
	err := keepalivetest.Silence(peer)
	require.ErrorIs(t, err, keepalivetest.ErrRefused)
	require.ErrorIs(t, err, syscall.EPERM)
	assert.Contains(t, err.Error(), "lacks CAP_NET_ADMIN")
	assert.Contains(t, err.Error(), "InNetNS")
}

// Odd values get errors, not panics: typed nils, zero values.
func TestNilAndZero(t *testing.T) {
	t.Parallel()
	assert.Error(t, keepalivetest.Silence((*net.TCPConn)(nil)))
	_, err := keepalivetest.NewListener((*net.TCPListener)(nil))
	assert.Error(t, err)
	_, err = keepalivetest.Proxy("tcp", "nonsense")
	assert.Error(t, err, "an address that cannot be dialed")
	_, err = keepalivetest.Proxy("unix", filepath.Join(t.TempDir(), "none"))
	assert.Error(t, err, "a socket that is not there")
	for _, l := range []*keepalivetest.Listener{nil, {}} {
		_, err := l.Accept()
		assert.Error(t, err)
		assert.Nil(t, l.Addr())
		assert.Error(t, l.Close())
		assert.Empty(t, l.Conns())
		assert.Error(t, l.FailNext(keepalivetest.Reset))
		assert.Error(t, l.FailAll(keepalivetest.Reset))
	}
	for _, c := range []*keepalivetest.Conn{nil, {}} {
		assert.Error(t, c.Fail(keepalivetest.Reset))
		assert.Zero(t, c.Fault())
		_, err := c.Read(nil)
		assert.Error(t, err)
		_, err = c.Write(nil)
		assert.Error(t, err)
		assert.Error(t, c.Close())
		assert.Nil(t, c.LocalAddr())
		assert.Nil(t, c.RemoteAddr())
		assert.Error(t, c.SetDeadline(time.Time{}))
		_, err = c.SyscallConn()
		assert.Error(t, err)
	}
}

// The environment alone makes no process write sysctls: only one InNetNS
// or Rerun started in a namespace of its own (a set-user-ID program that
// imports the package would write them as root), and a name outside
// net/ is refused.
func TestEnvironmentAloneWritesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "written")
	rel, err := filepath.Rel("/proc/sys", target)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), "KEEPALIVETEST_NETNS=x", "KEEPALIVETEST_SYSCTLS=net/../"+rel+"=1\n"+rel+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	_, err = os.Stat(target)
	assert.ErrorIs(t, err, os.ErrNotExist, "a file written through the sysctls")
}
