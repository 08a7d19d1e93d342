package keepalive_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/internal/testkit/deadpeer"
)

// ends collects what an OnEnd hook received.
type ends struct {
	mu     sync.Mutex
	causes []keepalive.Cause
	sts    []keepalive.Status
	got    chan struct{}
}

func newEnds() *ends { return &ends{got: make(chan struct{}, 64)} }

func (e *ends) hook(_ net.Conn, c keepalive.Cause, st keepalive.Status) {
	e.mu.Lock()
	e.causes = append(e.causes, c)
	e.sts = append(e.sts, st)
	e.mu.Unlock()
	e.got <- struct{}{}
}

// wait waits, for up to 10 s, until the hook has run n times, and returns
// the causes.
func (e *ends) wait(t *testing.T, n int) []keepalive.Cause {
	t.Helper()
	for range n {
		select {
		case <-e.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("the hook did not run %d times within 10s", n)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]keepalive.Cause(nil), e.causes...)
}

// The wrapped *net.TCPConn keeps the methods the standard library and
// drivers look for.
func TestWatchConnMethods(t *testing.T) {
	t.Parallel()
	e := newEnds()
	client, _ := testkit.Pair(t, testkit.Loopbacks(t)[0], nil, keepalive.WatchDial(plainDial, e.hook))
	_, isTCP := client.(*net.TCPConn)
	assert.False(t, isTCP, "wrapped")
	assert.Implements(t, (*io.ReaderFrom)(nil), client)
	assert.Implements(t, (*io.WriterTo)(nil), client)
	assert.Implements(t, (*syscall.Conn)(nil), client)
	assert.Implements(t, (*interface{ CloseWrite() error })(nil), client)
	assert.Implements(t, (*interface{ CloseRead() error })(nil), client)
	assert.IsType(t, &net.TCPConn{}, client.(interface{ NetConn() net.Conn }).NetConn())
	st, err := keepalive.StatusOf(client)
	require.NoError(t, err)
	assert.Equal(t, keepalive.StateEstablished, st.State)
	st, err = keepalive.StatusOf(tls.Client(client, &tls.Config{}))
	require.NoError(t, err, "through a *tls.Conn")
	assert.Equal(t, keepalive.StateEstablished, st.State)

	require.NoError(t, client.Close())
	assert.ErrorIs(t, client.Close(), net.ErrClosed, "a second Close reports nothing")
	assert.Equal(t, []keepalive.Cause{keepalive.CauseOpen}, e.wait(t, 1))
	assert.Same(t, client, keepalive.WatchConn(client, nil))
	assert.Nil(t, keepalive.WatchConn(nil, e.hook))
	assert.Nil(t, keepalive.WatchListener(nil, e.hook))
}

// The hook sees a dead peer's end on a connection the caller closes after
// the failed read, and a peer's FIN on the server.
func TestWatchDeadPeer(t *testing.T) {
	t.Parallel()
	cfg := keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 2}
	e := newEnds()
	client, server := testkit.Pair(t, testkit.Loopbacks(t)[0], nil, keepalive.WatchDial(cfg.Dialer(nil).DialContext, e.hook))
	deadpeer.Silence(t, server)
	_, err := testkit.ReadFailure(client, time.Now(), 20*time.Second)
	require.Error(t, err)
	require.NoError(t, client.Close())
	assert.Equal(t, []keepalive.Cause{keepalive.CauseKeepAlive}, e.wait(t, 1))
	t.Logf("read said %v; the hook: %v after %d probes", err, e.causes[0], e.sts[0].Probes)
	assert.Equal(t, 2, e.sts[0].Probes)
}

// net/http over HTTP/1.1 (a file: sendfile) and HTTP/2 over TLS, hooked on
// both sides: the bodies arrive, and every connection's end is reported.
func TestWatchHTTP(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("keepalive "), 100<<10)
	file := filepath.Join(t.TempDir(), "body")
	require.NoError(t, os.WriteFile(file, body, 0o644))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, file) })
	for _, h2 := range []bool{false, true} {
		name := map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			serverEnds, clientEnds := newEnds(), newEnds()
			ln, err := keepalive.Config{}.Listen(context.Background(), "tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			srv := httptest.NewUnstartedServer(handler)
			srv.Listener = keepalive.WatchListener(ln, serverEnds.hook)
			if h2 {
				srv.EnableHTTP2 = true
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			client := srv.Client()
			tr := client.Transport.(*http.Transport)
			tr.DialContext = keepalive.WatchDial(keepalive.Config{}.Dialer(nil).DialContext, clientEnds.hook)
			resp, err := client.Get(srv.URL)
			require.NoError(t, err)
			got, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, body, got)
			assert.Equal(t, map[bool]int{false: 1, true: 2}[h2], resp.ProtoMajor)
			tr.CloseIdleConnections()
			clientSide, serverSide := clientEnds.wait(t, 1), serverEnds.wait(t, 1)
			if !h2 {
				assert.Equal(t, []keepalive.Cause{keepalive.CauseOpen}, clientSide, "closed by this side while open")
				assert.Equal(t, []keepalive.Cause{keepalive.CausePeerClosed}, serverSide)
				return
			}
			// HTTP/2: the client's GOAWAY races the server's close, and a
			// side that closes with frames unread sends a reset.
			ended := []keepalive.Cause{keepalive.CauseOpen, keepalive.CausePeerClosed, keepalive.CauseReset}
			assert.Contains(t, ended, clientSide[0])
			assert.Contains(t, ended, serverSide[0])
		})
	}
}

// TestHookScenario is not a test of its own: TestHookKeepsSendfileAndSplice
// runs it under strace.
func TestHookScenario(t *testing.T) {
	if os.Getenv("KEEPALIVE_HOOK_SCENARIO") == "" {
		t.Skip("run by TestHookKeepsSendfileAndSplice under strace")
	}
	hook := func(net.Conn, keepalive.Cause, keepalive.Status) {}
	body := bytes.Repeat([]byte("x"), 1<<20)
	file := filepath.Join(t.TempDir(), "body")
	require.NoError(t, os.WriteFile(file, body, 0o644))
	ln, err := keepalive.Config{}.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, file) }))
	srv.Listener = keepalive.WatchListener(ln, hook)
	srv.Start()
	defer srv.Close()
	// A proxy between two hooked connections: io.Copy must splice.
	pln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer pln.Close()
	go func() {
		in, err := keepalive.WatchListener(pln, hook).Accept()
		if err != nil {
			return
		}
		out, err := keepalive.WatchDial(plainDial, hook)(context.Background(), "tcp4", srv.Listener.Addr().String())
		if err != nil {
			in.Close()
			return
		}
		go func() { io.Copy(out, in); out.(interface{ CloseWrite() error }).CloseWrite() }()
		io.Copy(in, out)
		in.(interface{ CloseWrite() error }).CloseWrite()
	}()
	tr := &http.Transport{DisableKeepAlives: true}
	resp, err := (&http.Client{Transport: tr}).Get("http://" + pln.Addr().String())
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, len(body), len(got))
}

// Through the hook's wrapper, net/http still sends a file with sendfile(2)
// and io.Copy between two connections still splices.
func TestHookKeepsSendfileAndSplice(t *testing.T) {
	t.Parallel()
	strace, err := exec.LookPath("strace")
	if err != nil {
		testkit.Skip(t, "skipping: strace is not installed (apt-get install strace)")
	}
	out := filepath.Join(t.TempDir(), "strace")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, strace, "-f", "-qq", "-e", "trace=sendfile,splice", "-e", "signal=none", "-o", out,
		os.Args[0], "-test.run=^TestHookScenario$", "-test.count=1", "-test.timeout=25s")
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "KEEPALIVE_HOOK_SCENARIO=1")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	trace, err := os.ReadFile(out)
	require.NoError(t, err)
	// A call strace saw interrupted ends on a "<... sendfile resumed>" line.
	sendfile := regexp.MustCompile(`(sendfile\(\d+, \d+, [^\n]*\)|<\.\.\. sendfile resumed>\))\s+= [1-9]`).FindAllIndex(trace, -1)
	splice := regexp.MustCompile(`(splice\(\d+, [^\n]*\)|<\.\.\. splice resumed>\))\s+= [1-9]`).FindAllIndex(trace, -1)
	t.Logf("%d sendfile and %d splice calls moved data", len(sendfile), len(splice))
	assert.NotEmpty(t, sendfile, "net/http did not use sendfile")
	assert.NotEmpty(t, splice, "io.Copy between hooked connections did not splice")
}

// The hook's cost per connection: dial, accept and close, with WatchDial
// and WatchListener against without.
func BenchmarkHook(b *testing.B) {
	lb := testkit.Loopbacks(b)[0]
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), lb.Network, lb.Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	hook := func(net.Conn, keepalive.Cause, keepalive.Status) {}
	hooked, hookedLn := keepalive.WatchDial(plainDial, hook), keepalive.WatchListener(ln, hook)
	with := func() error { return connectOnce(hookedLn, addr, hooked) }
	without := func() error { return connectOnce(ln, addr, plainDial) }
	runLoop(b, "impl=hook", with)
	runLoop(b, "impl=none", without)
	b.Run("paired/vs=none", func(b *testing.B) { paired(b, 8, with, without) })
}
