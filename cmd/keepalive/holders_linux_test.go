package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/keepalivetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestHolders10k: conns finds the holders of 10,000 connections (20,000
// sockets, both ends in this process) in under a second. It runs in a
// private network namespace so the host's ephemeral ports are left alone,
// and raises RLIMIT_NOFILE for this process only. The figure is logged:
//
//	cd cmd/keepalive && GOWORK=$PWD/go.work go test -count=1 -run TestHolders10k -v .
func TestHolders10k(t *testing.T) {
	if !keepalivetest.InNetNS(t, nil) {
		return
	}
	const n = 10_000
	raiseNOFILE(t, n+1000)
	// The accepting ends live in a helper process: 20,000 descriptors in
	// one process would exceed a 20,000 hard limit, which a container may
	// not raise. The lookup covers both processes.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := exec.CommandContext(ctx, os.Args[0])
	srv.Env = append(os.Environ(), envHelper+"=accept-"+strconv.Itoa(n))
	srv.Stderr = os.Stderr
	stdin, err := srv.StdinPipe()
	require.NoError(t, err)
	out, err := srv.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	defer func() { stdin.Close(); srv.Wait() }()
	lines := bufio.NewReader(out)
	addr := "127.0.0.1:" + readLine(t, lines)

	start := time.Now()
	d := net.Dialer{KeepAlive: -1, Timeout: 5 * time.Second}
	clients := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range n {
		c, err := d.Dial("tcp4", addr)
		require.NoError(t, err)
		clients = append(clients, c)
	}
	require.Equal(t, "accepted", readLine(t, lines))
	t.Logf("%d connections opened in %v", n, time.Since(start).Round(time.Millisecond))
	port, err := strconv.Atoi(addr[len("127.0.0.1:"):])
	require.NoError(t, err)

	diag, err := openDiag("")
	require.NoError(t, err)
	defer diag.Close()
	start = time.Now()
	conns, _, err := diag.list(connFilter{port: port})
	listed := time.Since(start)
	require.NoError(t, err)
	require.Len(t, conns, 2*n+1, "both ends of each, and the listener")

	want := map[uint32]bool{}
	for _, c := range conns {
		want[c.Inode] = true
	}
	start = time.Now()
	scan, err := scanHolders(want)
	took := time.Since(start)
	require.NoError(t, err)
	assert.Len(t, scan.byInode, 2*n+1, "every socket's holder found")
	for _, c := range conns {
		require.Len(t, c.Holders, 1, "%s -> %s", c.Local, c.Remote)
		if c.State != "listen" {
			require.Contains(t, []int{os.Getpid(), srv.Process.Pid}, c.Holders[0].PID)
		}
	}
	t.Logf("holder lookup over %d sockets: %v (the whole listing, sock_diag dump included: %v)", len(want), took.Round(time.Millisecond), listed.Round(time.Millisecond))
	// The figure is the measurement (issue 13: under a second; about 0.13 s
	// here without -race). A timed unit test cannot hold a target on a
	// loaded machine under the race detector; this only catches a lookup
	// gone quadratic (20,001 sockets would take minutes).
	assert.Less(t, took, 10*time.Second, "holder lookup over %d sockets", len(want))

	// The command, as a person runs it.
	r := keepaliveCmd(t, "conns", "--port", strconv.Itoa(port), "--json")
	require.Equal(t, 0, r.code, r.stderr)
	t.Logf("keepalive conns --port %d --json over %d sockets: %v, %d bytes", port, len(want), r.took.Round(time.Millisecond), len(r.stdout))
}

// raiseNOFILE raises this process's soft RLIMIT_NOFILE to at least n, or
// fails the test naming the hard limit.
func raiseNOFILE(t *testing.T, n uint64) {
	t.Helper()
	var lim unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &lim))
	if lim.Cur >= n {
		return
	}
	lim.Cur = n
	if lim.Max < n {
		lim.Max = n // only root with CAP_SYS_RESOURCE
	}
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &lim), "raising RLIMIT_NOFILE to %d", n)
}

// acceptN is the helper accept-N: it listens on loopback, prints the
// port, accepts N connections, prints "accepted" and holds them until
// stdin closes.
func acceptN(n int) int {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < uint64(n)+1000 {
		lim.Cur = min(lim.Max, uint64(n)+1000)
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	}
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	cs := make([]net.Conn, 0, n)
	for len(cs) < n {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cs = append(cs, c)
	}
	fmt.Println("accepted")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// sockFD is conn's descriptor number and socket inode in this process.
func sockFD(t *testing.T, conn net.Conn) (int, uint32) {
	t.Helper()
	rc, err := conn.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var fd int
	var st unix.Stat_t
	var serr error
	require.NoError(t, rc.Control(func(f uintptr) { fd = int(f); serr = unix.Fstat(fd, &st) }))
	require.NoError(t, serr)
	return fd, uint32(st.Ino)
}

// TestOptionsFDReused: the descriptor number found in /proc/PID/fd may
// name another socket by the time pidfd_getfd duplicates it (a busy server
// closes and reuses numbers all the time). Here fd B, which the listing
// would have found holding socket A, holds another socket with keepalive
// on, idle 4321s: neither why's holder read nor conns --pid's may report
// those values for A.
func TestOptionsFDReused(t *testing.T) {
	t.Parallel()
	lb := testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}
	a, _ := testkit.Pair(t, lb, nil, (&net.Dialer{KeepAlive: -1}).DialContext)
	other := keepalive.Config{Idle: 4321 * time.Second, Interval: 7 * time.Second, Count: 3}
	b, _ := testkit.Pair(t, lb, nil, other.Dial)
	_, inoA := sockFD(t, a)
	fdB, inoB := sockFD(t, b)
	require.NotEqual(t, inoA, inoB)
	sys := hostSys(t)

	c := connInfo{Inode: inoA, Keepalive: "unknown", Holders: []holder{{PID: os.Getpid(), FD: fdB}}}
	holderOptions(&c, sys, time.Minute)
	assert.Nil(t, c.Options, "another socket's options: %+v", c.Options)
	assert.Equal(t, "unknown", c.Keepalive)
	assert.Contains(t, c.OptionsError, "now another socket")

	conns := []connInfo{{Inode: inoA, Keepalive: "unknown", FD: &fdB}}
	readOptions(os.Getpid(), conns, sys, time.Minute)
	assert.Nil(t, conns[0].Options, "another socket's options: %+v", conns[0].Options)
	assert.Equal(t, "unknown", conns[0].Keepalive)
	assert.Contains(t, conns[0].OptionsError, "now another socket")

	// The socket itself, through its own descriptor: read.
	fdA, _ := sockFD(t, a)
	c = connInfo{Inode: inoA, Keepalive: "unknown", Holders: []holder{{PID: os.Getpid(), FD: fdA}}}
	holderOptions(&c, sys, time.Minute)
	require.NotNil(t, c.Options, c.OptionsError)
	assert.Equal(t, "off", c.Keepalive)
}
