package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/internal/testkit/deadpeer"
	"github.com/keepalive-go/keepalive/keepalivetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// runHelper is the test binary playing a helper process (envHelper).
//
// orphan-server is a server that hands its accepted connection to a child,
// as a fork/exec without close-on-exec does: it listens on loopback, prints
// the port, accepts one connection, starts sleep with the socket as fd 3
// (os/exec ExtraFiles), prints sleep's pid and waits to be killed. It leads
// its own process group, as a server started by a shell or a supervisor
// does, so sleep's group leader is gone once it is.
//
// netns-pair, started in a network namespace of its own, brings loopback
// up, holds both ends of a loopback connection, prints the port and waits
// for stdin to close.
func runHelper(name string) int {
	switch name {
	case "orphan-server":
	case "netns-pair":
		return netnsPair()
	case "pass-fd3":
		// Starts sleep with its own fd 3, prints sleep's pid and waits to
		// be killed: sleep then descends from no one the test knows.
		child := exec.Command("sleep", "30")
		child.ExtraFiles = []*os.File{os.NewFile(3, "socket")}
		if err := child.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(child.Process.Pid)
		time.Sleep(time.Minute) // until SIGKILL
		return 1
	case "daemon-parent":
		return daemonParent()
	case "daemon-server":
		return daemonServer()
	default:
		if n, ok := strings.CutPrefix(name, "accept-"); ok {
			if n, err := strconv.Atoi(n); err == nil {
				return acceptN(n)
			}
		}
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
		return 2
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	c, err := ln.Accept()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	child := exec.Command("sleep", "60") // bounded: the test kills it sooner
	child.ExtraFiles = []*os.File{f}
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(child.Process.Pid)
	time.Sleep(time.Minute) // until SIGKILL
	return 1
}

// daemonParent starts daemon-server, which shares its stdout, prints its
// pid and waits to be killed: once it is, the server is re-parented and its
// process group's leader is gone, as for nohup ./server & from a shell
// that exited, or a double-forked daemon.
func daemonParent() int {
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), envHelper+"=daemon-server")
	child.Stdout, child.Stderr = os.Stdout, os.Stderr
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(child.Process.Pid)
	time.Sleep(time.Minute) // until SIGKILL
	return 1
}

// daemonServer listens on loopback and prints the port, accepts one
// connection and prints "accepted", holding both sockets without
// close-on-exec (as nginx's accept4 with SOCK_NONBLOCK only does) for a
// minute at most.
func daemonServer() int {
	noCloexec := func(c syscall.Conn) error {
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var ferr error
		if err := rc.Control(func(fd uintptr) { _, ferr = unix.FcntlInt(fd, unix.F_SETFD, 0) }); err != nil {
			return err
		}
		return ferr
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err == nil {
		err = noCloexec(ln.(*net.TCPListener))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	c, err := ln.Accept()
	if err == nil {
		err = noCloexec(c.(*net.TCPConn))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("accepted")
	time.Sleep(time.Minute) // bounded: the test kills it sooner
	return 1
}

func netnsPair() int {
	if err := testkit.SetUpNetNS(nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := ln.Accept()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	io.Copy(io.Discard, os.Stdin)
	c.Close()
	s.Close()
	return 0
}

// whyOut mirrors keepalive why --json.
type whyOut struct {
	Connections []struct {
		State     string     `json:"state"`
		Local     string     `json:"local"`
		Remote    string     `json:"remote"`
		Keepalive string     `json:"keepalive"`
		Timer     string     `json:"timer"`
		Probes    int        `json:"probes"`
		Window    string     `json:"window_probes"`
		Holders   []holder   `json:"holders"`
		Flags     []string   `json:"flags"`
		Options   *configOut `json:"options"`
		RTOBase   float64    `json:"rto_base_s"`
		Multipath bool       `json:"multipath_tcp"`
		MPClose   *float64   `json:"mptcp_close_timeout_s"`
		Verdict   struct {
			From     string   `json:"counted_from"`
			Ends     string   `json:"ends"`
			Cause    string   `json:"cause"`
			In       *float64 `json:"in_s"`
			Earliest *float64 `json:"earliest_s"`
			Latest   *float64 `json:"latest_s"`
			Why      []string `json:"explanation"`
			Todo     []string `json:"what_to_do"`
		} `json:"verdict"`
		Ended bool `json:"ended"`
	} `json:"connections"`
	Notes []string `json:"notes"`
}

// readLine reads one line from r within 10s.
func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line := make(chan string, 1)
	go func() { s, _ := r.ReadString('\n'); line <- strings.TrimSpace(s) }()
	select {
	case s := <-line:
		require.NotEmpty(t, s, "the helper printed nothing")
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the helper printed nothing within 10s")
		return ""
	}
}

// ppid reads a process's parent from /proc/PID/stat.
func ppid(t *testing.T, pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(t, err)
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	n, err := strconv.Atoi(f[1])
	require.NoError(t, err)
	return n
}

// TestWhyOrphanedHolder reproduces the report: a server whose accepted
// socket a child inherited is killed with -9. No FIN is sent, both ends stay
// ESTABLISHED. conns must name the child as the holder and flag it, why must
// say the connection never ends and who keeps it, and --kill must end it:
// the client's blocked Read gets a reset.
func TestWhyOrphanedHolder(t *testing.T) {
	t.Parallel()
	if !keepalivetest.InNetNS(t, nil) {
		return
	}
	helper := exec.Command(os.Args[0])
	helper.Env = append(os.Environ(), envHelper+"=orphan-server")
	helper.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, helper.Start())
	t.Cleanup(func() { helper.Process.Kill(); helper.Wait() })
	lines := bufio.NewReader(out)
	port := readLine(t, lines)

	client, err := (&net.Dialer{KeepAlive: -1, Timeout: 5 * time.Second}).Dial("tcp4", "127.0.0.1:"+port)
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	sleepPID, err := strconv.Atoi(readLine(t, lines))
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Kill(sleepPID, syscall.SIGKILL) })

	require.NoError(t, helper.Process.Signal(syscall.SIGKILL))
	helper.Wait() // reaped: its pid, the child's process group, is gone
	require.Eventually(t, func() bool { return ppid(t, sleepPID) != helper.Process.Pid }, 5*time.Second, 10*time.Millisecond, "sleep re-parented")

	server := "127.0.0.1:" + port
	local := client.LocalAddr().String()

	// conns: the child holds the server's end, flagged; this test holds the client's.
	conns := decode[struct {
		Connections []struct {
			State   string   `json:"state"`
			Local   string   `json:"local"`
			Remote  string   `json:"remote"`
			Holders []holder `json:"holders"`
			Flags   []string `json:"flags"`
		} `json:"connections"`
	}](t, keepaliveCmd(t, "conns", "--port", port, "--state", "established", "--json"))
	require.Len(t, conns.Connections, 2, "both ends, ESTABLISHED after the kill: %+v", conns)
	for _, c := range conns.Connections {
		require.Len(t, c.Holders, 1, c.Local)
		if c.Local == server {
			assert.Equal(t, local, c.Remote)
			assert.Equal(t, sleepPID, c.Holders[0].PID)
			assert.Equal(t, "sleep", c.Holders[0].Command)
			assert.Equal(t, 3, c.Holders[0].FD, "ExtraFiles[0] is fd 3")
			assert.True(t, c.Holders[0].Orphaned)
			require.NotEmpty(t, c.Flags)
			assert.Contains(t, c.Flags[0], fmt.Sprintf("held by sleep[%d], orphaned", sleepPID))
		} else {
			assert.Equal(t, local, c.Local)
			assert.Equal(t, os.Getpid(), c.Holders[0].PID, "the client is this test")
			assert.False(t, c.Holders[0].Orphaned)
			assert.Empty(t, c.Flags)
		}
	}
	r := keepaliveCmd(t, "conns", "--port", port)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, fmt.Sprintf("sleep[%d] fd 3 (orphaned)", sleepPID))
	assert.Contains(t, r.stdout, fmt.Sprintf("! %s -> %s: held by sleep[%d], orphaned", server, local, sleepPID))

	// why, for both ends at once.
	w := decode[whyOut](t, keepaliveCmd(t, "why", server, "--json"))
	require.Len(t, w.Connections, 2)
	for _, c := range w.Connections {
		assert.Equal(t, "never", c.Verdict.Ends, c.Local)
		if c.Local == server {
			assert.Equal(t, "on", c.Keepalive, "Go's default on the accepted connection, and still it never ends")
			assert.Equal(t, "a local process still holds this end after its owner died", c.Verdict.Cause)
			assert.Contains(t, strings.Join(c.Verdict.Todo, "\n"), fmt.Sprintf("kill %d (sleep)", sleepPID))
		} else {
			assert.Equal(t, "off", c.Keepalive, c.Local)
			assert.Equal(t, "the peer answers because a process still holds the socket there", c.Verdict.Cause)
		}
		assert.Contains(t, strings.Join(c.Verdict.Why, " "), fmt.Sprintf("sleep (pid %d, fd 3, orphaned", sleepPID), c.Local)
	}
	r = keepaliveCmd(t, "why", server, local)
	require.Equal(t, 0, r.code, r.stderr)
	t.Logf("keepalive why %s %s:\n%s", server, local, r.stdout)
	for _, want := range []string{
		server + " -> " + local + ": ESTABLISHED\n",
		fmt.Sprintf("Held by: sleep (pid %d, fd 3, orphaned: its parent is now pid ", sleepPID),
		"Verdict: the kernel will never end it (a local process still holds this end after its owner died).",
		"keepalive why --kill " + server + " " + local + " ends it now",
	} {
		assert.Contains(t, r.stdout, want)
	}

	// --kill asks first: no answer, or no, ends nothing.
	for _, answer := range []string{"", "n\n"} {
		r = keepaliveCmdIn(t, answer, "why", "--kill", server, local)
		assert.Equal(t, 1, r.code, "answer %q", answer)
		assert.Contains(t, r.stderr, "End 1 connection(s) ("+server+" -> "+local+")?")
		assert.Contains(t, r.stderr, "nothing ended")
	}

	read := make(chan error, 1)
	go func() {
		client.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := client.Read(make([]byte, 1))
		read <- err
	}()
	select {
	case err := <-read:
		t.Fatalf("the client's read returned before --kill: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	r = keepaliveCmd(t, "why", "--kill", "--yes", server, local)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "ended "+server+" -> "+local)
	start := time.Now()
	select {
	case err := <-read:
		assert.True(t, errors.Is(err, syscall.ECONNRESET), "the client reads a reset: %v", err)
		t.Logf("client read after --kill: %v, %v after the command returned", err, time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the client's read did not end within 5s of --kill")
	}
	r = keepaliveCmd(t, "why", server, local)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "no TCP connection from "+server+" to "+local)
}

// TestDaemonNotOrphaned: a server re-parented after the process that
// started it exited (nohup ./server &, a double-forked daemon), holding its
// listener and an accepted socket without close-on-exec, is no left-behind
// child: conns must not flag it, why must not say the connection never ends.
func TestDaemonNotOrphaned(t *testing.T) {
	t.Parallel()
	if !keepalivetest.InNetNS(t, nil) {
		return
	}
	parent := exec.Command(os.Args[0])
	parent.Env = append(os.Environ(), envHelper+"=daemon-parent")
	parent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	parent.Stderr = os.Stderr
	out, err := parent.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, parent.Start())
	t.Cleanup(func() { parent.Process.Kill(); parent.Wait() })
	lines := bufio.NewReader(out)
	serverPID, err := strconv.Atoi(readLine(t, lines))
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Kill(serverPID, syscall.SIGKILL) })
	port := readLine(t, lines)
	client, err := (&net.Dialer{KeepAlive: -1, Timeout: 5 * time.Second}).Dial("tcp4", "127.0.0.1:"+port)
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	require.Equal(t, "accepted", readLine(t, lines))

	require.NoError(t, parent.Process.Signal(syscall.SIGKILL))
	parent.Wait()
	require.Eventually(t, func() bool { return ppid(t, serverPID) != parent.Process.Pid }, 5*time.Second, 10*time.Millisecond, "the server re-parented")
	server := "127.0.0.1:" + port
	// Without the listener check the accepted socket's holder would pass
	// as an orphan: re-parented, group leader gone, no close-on-exec.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", serverPID))
	require.NoError(t, err)
	t.Logf("server /proc/%d/stat: %s", serverPID, stat)

	conns := decode[struct {
		Connections []struct {
			State   string   `json:"state"`
			Local   string   `json:"local"`
			Holders []holder `json:"holders"`
			Flags   []string `json:"flags"`
		} `json:"connections"`
	}](t, keepaliveCmd(t, "conns", "--port", port, "--json"))
	seen := 0
	for _, c := range conns.Connections {
		if c.Local != server {
			continue
		}
		seen++
		require.Len(t, c.Holders, 1, c.State)
		assert.Equal(t, serverPID, c.Holders[0].PID, c.State)
		assert.False(t, c.Holders[0].Orphaned, "%s: the server holds its listener", c.State)
		assert.Empty(t, c.Flags, c.State)
	}
	assert.Equal(t, 2, seen, "the listener and the accepted socket")

	r := keepaliveCmd(t, "why", server, client.LocalAddr().String())
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "never")
	assert.NotContains(t, r.stdout, "orphaned")
	assert.NotContains(t, r.stdout, fmt.Sprintf("kill %d", serverPID))
}

// TestWhyKeepaliveOff: an idle connection without keepalive to a peer that
// has gone silent like a dead host never ends, and why says so.
func TestWhyKeepaliveOff(t *testing.T) {
	t.Parallel()
	if !keepalivetest.InNetNS(t, nil) {
		return
	}
	client, server := testkit.Pair(t, testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}, nil, (&net.Dialer{KeepAlive: -1}).DialContext)
	deadpeer.Silence(t, server)
	local, remote := client.LocalAddr().String(), client.RemoteAddr().String()

	w := decode[whyOut](t, keepaliveCmd(t, "why", local, remote, "--json"))
	require.Len(t, w.Connections, 1)
	c := w.Connections[0]
	assert.Equal(t, "established", c.State)
	assert.Equal(t, "off", c.Keepalive)
	assert.Equal(t, "none", c.Timer)
	require.NotNil(t, c.Options, "read through the holder, this process")
	assert.Equal(t, "never", c.Verdict.Ends)
	assert.Equal(t, "keepalive off", c.Verdict.Cause)
	assert.Nil(t, c.Verdict.In)
	require.Len(t, c.Holders, 1)
	assert.Equal(t, os.Getpid(), c.Holders[0].PID)

	r := keepaliveCmd(t, "why", local, remote)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Keepalive: off (SO_KEEPALIVE not set); no user timeout.")
	assert.Contains(t, r.stdout, "Verdict: the kernel will never end it (keepalive off).")
	assert.Contains(t, r.stdout, "keepalive.Config{")
}

// TestWhyHealthy: a connection with a library Config gives the library's
// model for the values read from the socket.
func TestWhyHealthy(t *testing.T) {
	t.Parallel()
	if !keepalivetest.InNetNS(t, nil) {
		return
	}
	cfg := keepalive.Config{Idle: 37 * time.Second, Interval: 11 * time.Second, Count: 4, UserTimeout: 53 * time.Second}
	client, _ := testkit.Pair(t, testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}, nil, cfg.Dial)
	local, remote := client.LocalAddr().String(), client.RemoteAddr().String()
	d := detect(t, cfg)

	w := decode[whyOut](t, keepaliveCmd(t, "why", local, remote, "--json"))
	require.Len(t, w.Connections, 1)
	c := w.Connections[0]
	assert.Equal(t, "on", c.Keepalive)
	assert.Equal(t, "keepalive", c.Timer)
	require.NotNil(t, c.Options)
	assert.Equal(t, cfg, c.Options.config())
	assert.Equal(t, "if the peer dies", c.Verdict.Ends)
	assert.Equal(t, "keepalive timeout", c.Verdict.Cause)
	require.NotNil(t, c.Verdict.In)
	assert.Equal(t, d.Idle.Seconds(), *c.Verdict.In, "the library's model")
	assert.Equal(t, d.IdleMin.Seconds(), *c.Verdict.Earliest)
	assert.Equal(t, d.IdleMax.Seconds(), *c.Verdict.Latest)

	r := keepaliveCmd(t, "why", local, remote)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Keepalive: on, idle 37s, interval 11s, 4 probes, user timeout 53s (read from the socket).")
	assert.Contains(t, r.stdout, "Verdict: healthy; if the peer dies, the kernel ends it "+dur(d.Idle)+" after the last segment it received")
}

// TestWhyInFlightAndZeroWindow: with data in flight to a silent peer, and
// with a live peer that stopped reading, why gives the library's bounds for
// the socket's values and RTO, counted from the write and from the window
// closing: not from now, which the kernel cannot tell.
func TestWhyInFlightAndZeroWindow(t *testing.T) {
	t.Parallel()
	if !keepalivetest.InNetNS(t, nil) {
		return
	}
	cfg := keepalive.Config{Idle: 37 * time.Second, Interval: 11 * time.Second, Count: 4, UserTimeout: 53 * time.Second}
	lb := testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}
	model := func(rto float64) keepalive.Detection {
		sys := hostSys(t)
		sys.RTO = time.Duration(math.Round(rto * float64(time.Second)))
		d, err := cfg.Detection(sys)
		require.NoError(t, err)
		return d
	}
	whyOne := func(client net.Conn, timer string) (whyOut, string) {
		local, remote := client.LocalAddr().String(), client.RemoteAddr().String()
		var w whyOut
		require.Eventually(t, func() bool {
			w = decode[whyOut](t, keepaliveCmd(t, "why", local, remote, "--json"))
			return len(w.Connections) == 1 && w.Connections[0].Timer == timer
		}, 10*time.Second, 50*time.Millisecond, "the %s timer runs", timer)
		r := keepaliveCmd(t, "why", local, remote)
		require.Equal(t, 0, r.code, r.stderr)
		t.Logf("keepalive why %s %s:\n%s", local, remote, r.stdout)
		return w, r.stdout
	}

	t.Run("in flight", func(t *testing.T) {
		client, server := testkit.Pair(t, lb, nil, cfg.Dial)
		deadpeer.Silence(t, server)
		_, err := client.Write([]byte("x"))
		require.NoError(t, err)
		w, text := whyOne(client, "retransmit")
		c := w.Connections[0]
		assert.Equal(t, "soon", c.Verdict.Ends)
		assert.Equal(t, "data in flight", c.Verdict.Cause)
		assert.Equal(t, "the write", c.Verdict.From)
		require.Greater(t, c.RTOBase, 0.0, "tcpi_rto")
		d := model(c.RTOBase)
		require.NotNil(t, c.Verdict.Earliest)
		require.NotNil(t, c.Verdict.Latest)
		assert.Equal(t, d.InFlightMin.Seconds(), *c.Verdict.Earliest)
		assert.Equal(t, d.InFlightMax.Seconds(), *c.Verdict.Latest)
		assert.Contains(t, text, "Verdict: the kernel ends it "+dur(d.InFlightMin)+" to "+dur(d.InFlightMax)+" after the write (data in flight).")
		assert.NotContains(t, text, "first retransmission")
		assert.NotContains(t, text, "in about")
	})

	t.Run("zero window", func(t *testing.T) {
		client, _ := testkit.Pair(t, lb, nil, cfg.Dial) // the server never reads
		buf := make([]byte, 1<<20)
		for range 200 { // bounded: loopback buffers hold a few MB
			client.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := client.Write(buf); err != nil {
				require.ErrorIs(t, err, os.ErrDeadlineExceeded)
				break
			}
		}
		w, text := whyOne(client, "zero-window-probe")
		c := w.Connections[0]
		assert.Equal(t, "answered", c.Window, "a live peer: its kernel answers the window probes")
		assert.Contains(t, text, "its kernel answers the probes (none unanswered")
		assert.Equal(t, "soon", c.Verdict.Ends)
		assert.Equal(t, "the peer stopped reading (zero window)", c.Verdict.Cause)
		assert.Equal(t, "the window closing", c.Verdict.From)
		d := model(c.RTOBase)
		require.NotEqual(t, keepalive.Never, d.ZeroWindowMax)
		require.NotNil(t, c.Verdict.Latest)
		assert.Equal(t, d.ZeroWindowMin.Seconds(), *c.Verdict.Earliest)
		assert.Equal(t, d.ZeroWindowMax.Seconds(), *c.Verdict.Latest)
		assert.Contains(t, text, "after the window closing (the peer stopped reading (zero window)).")
		assert.NotContains(t, text, "in about")
	})
}

// TestWhyMultipathTCP: a Multipath TCP connection (Go's dialer asked for
// one, to a Go listener, which accepts them by default) is shown as one by
// conns --pid, and why keeps the values the library returns with
// ErrMultipathTCP, adds the namespace's net.mptcp.close_timeout to the
// model's time and suggests plain TCP.
func TestWhyMultipathTCP(t *testing.T) {
	t.Parallel()
	if b, err := os.ReadFile("/proc/sys/net/mptcp/enabled"); err != nil || strings.TrimSpace(string(b)) != "1" {
		testkit.Skip(t, "skipping: Multipath TCP is not enabled here (/proc/sys/net/mptcp/enabled)")
	}
	sysctls := map[string]string{}
	const closeTimeout = 47 * time.Second // not the default: read from the namespace
	if _, err := os.Stat("/proc/sys/net/mptcp/close_timeout"); err == nil {
		sysctls["net/mptcp/close_timeout"] = "47"
	}
	if !keepalivetest.InNetNS(t, sysctls) {
		return
	}
	want := 60 * time.Second
	if len(sysctls) > 0 {
		want = closeTimeout
	}
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	d := net.Dialer{Timeout: 5 * time.Second, KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 37 * time.Second, Interval: 11 * time.Second, Count: 4}}
	d.SetMultipathTCP(true)
	client, server := testkit.Pair(t, testkit.Loopback{Network: "tcp4"}, ln, d.DialContext)
	for _, c := range []net.Conn{client, server} {
		mp, err := c.(*net.TCPConn).MultipathTCP()
		require.NoError(t, err)
		if !mp {
			testkit.Skip(t, "skipping: the connection fell back to plain TCP")
		}
	}
	cfg, err := keepalive.Inspect(client)
	require.ErrorIs(t, err, keepalive.ErrMultipathTCP)
	local, remote := client.LocalAddr().String(), client.RemoteAddr().String()

	r := keepaliveCmd(t, "conns", "--pid", strconv.Itoa(os.Getpid()), "--port", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), "--state", "established")
	require.Equal(t, 0, r.code, r.stderr)
	t.Logf("keepalive conns --pid:\n%s", r.stdout)
	assert.Contains(t, r.stdout, "(Multipath TCP: subflow only)")
	assert.Contains(t, r.stdout, "not bounded: Multipath TCP outlives the subflow")

	// Without --pid too: the dump's INET_DIAG_ULP_INFO names the subflow.
	r = keepaliveCmd(t, "conns", "--port", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, 2, strings.Count(r.stdout, "(Multipath TCP: subflow only)"), "both ends, not the listener:\n%s", r.stdout)

	w := decode[whyOut](t, keepaliveCmd(t, "why", local, remote, "--json"))
	require.Len(t, w.Connections, 1)
	c := w.Connections[0]
	assert.True(t, c.Multipath)
	require.NotNil(t, c.MPClose)
	assert.Equal(t, want.Seconds(), *c.MPClose, "the namespace's net.mptcp.close_timeout")
	require.NotNil(t, c.Options, "the values kept despite ErrMultipathTCP")
	assert.Equal(t, cfg, c.Options.config())
	assert.Equal(t, "on", c.Keepalive)
	assert.Equal(t, "if the peer dies", c.Verdict.Ends)
	assert.Contains(t, c.Verdict.Cause, "Multipath TCP")
	model := detect(t, cfg)
	require.NotNil(t, c.Verdict.In)
	assert.Equal(t, (model.Idle + want).Seconds(), *c.Verdict.In, "the subflow's model plus close_timeout")
	assert.Contains(t, strings.Join(c.Verdict.Todo, "\n"), "use plain TCP")

	r = keepaliveCmd(t, "why", local, remote)
	require.Equal(t, 0, r.code, r.stderr)
	t.Logf("keepalive why:\n%s", r.stdout)
	assert.Contains(t, r.stdout, "net.mptcp.close_timeout ("+dur(want)+" in this namespace)")
	assert.Contains(t, r.stdout, "the kernel drops this subflow "+dur(model.Idle))
	assert.NotContains(t, r.stdout, "could not be read")
}

// TestWhyKillNeedsPrivilege: without CAP_NET_ADMIN, --kill says what it
// needs and ends nothing, even on the user's own connection. As root the
// command runs as nobody, on a socket nobody owns.
func TestWhyKillNeedsPrivilege(t *testing.T) {
	t.Parallel()
	dial := (&net.Dialer{KeepAlive: -1}).DialContext
	if os.Geteuid() == 0 {
		dial = func(_ context.Context, _, addr string) (net.Conn, error) { return dialAs(t, 65534, addr), nil }
	}
	client, _ := testkit.Pair(t, testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}, nil, dial)
	local, remote := client.LocalAddr().String(), client.RemoteAddr().String()
	cmd := unprivileged(t, "why", "--kill", "--yes", local, remote)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
	assert.Equal(t, 1, exitErr.ExitCode())
	assert.Contains(t, stderr.String(), "keepalive why: ending "+local+" -> "+remote+": SOCK_DESTROY: operation not permitted: ending a connection needs CAP_NET_ADMIN")
	assert.NotContains(t, stdout.String(), "ended ")
	if os.Geteuid() == 0 {
		assert.Contains(t, stdout.String(), "could not read the descriptors of", "nobody may not read root's fds: said once")
	}
	require.NoError(t, client.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, err = client.Read(make([]byte, 1))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "the connection is still up")
}

// unprivileged is the command without CAP_NET_ADMIN: as root, a copy run as
// nobody (uid 65534); otherwise the binary itself.
// copyForNobody copies the binary where uid 65534 can run it, once: a copy
// per test would race with the forks of parallel tests, whose children
// briefly hold the new file open for writing (exec then fails with "text
// file busy"). It waits until the copy runs.
func copyForNobody() (string, error) {
	dir, err := os.MkdirTemp("", "keepalive-nobody-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "keepalive")
	if err := os.WriteFile(path, exe, 0o755); err != nil {
		return "", err
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := exec.Command(path, "help").Run()
		var exit *exec.ExitError
		if err == nil || errors.As(err, &exit) || !errors.Is(err, syscall.ETXTBSY) || time.Now().After(deadline) {
			return path, nil
		}
	}
}

func unprivileged(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		return exec.Command(bin, args...)
	}
	nobodyOnce.Do(func() { nobodyBin, nobodyErr = copyForNobody() })
	require.NoError(t, nobodyErr)
	dir := filepath.Dir(nobodyBin)
	cmd := exec.Command(filepath.Join(dir, "keepalive"), args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	return cmd
}

func TestWhyInvalidInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "give one ADDR:PORT"},
		{[]string{"1.2.3.4:1", "1.2.3.4:2", "1.2.3.4:3"}, 2, "give one ADDR:PORT"},
		{[]string{"db.internal:5432"}, 2, `"db.internal:5432": give an IP address and a port`},
		{[]string{"127.0.0.1"}, 2, "give an IP address and a port"},
		{[]string{":0"}, 2, "give an IP address and a port"},
		{[]string{"--yes", ":1"}, 2, "--yes only goes with --kill"},
		{[]string{"--kill", ":443"}, 2, "--kill :443: a port alone matches every program's connections"},
		{[]string{"--kill", "0.0.0.0:443"}, 2, "give both ends"},
		{[]string{"--pid", "-1", ":1"}, 2, "--pid -1"},
		{[]string{"--netns", "a/b", ":1"}, 2, `--netns "a/b": give a name under /run/netns`},
		{[]string{"--netns", "no-such-ns-here", ":1"}, 1, "/run/netns/no-such-ns-here does not exist"},
		{[]string{"--netns", "4194305", ":1"}, 1, "/proc/4194305/ns/net does not exist"},
		{[]string{"[::1]:1", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		// A zone never matched: sock_diag's addresses have none.
		{[]string{"[fe80::1%lo]:80"}, 2, `"[fe80::1%lo]:80": a zone (%lo) is not supported`},
		{[]string{"[::1]:1", "[fe80::1%2]:80"}, 2, "a zone (%2) is not supported"},
		// Only a process ID as the kernel writes it is one.
		{[]string{"--netns", "007", ":1"}, 2, `--netns "007": a process ID is written without a sign or leading zeros (7)`},
		{[]string{"--netns", "+1", ":1"}, 2, `--netns "+1": a process ID is written without a sign or leading zeros (1)`},
	} {
		r := keepaliveCmd(t, append([]string{"why"}, tc.args...)...)
		assert.Equal(t, tc.code, r.code, "%v: %s", tc.args, r.stderr)
		assert.Contains(t, r.stderr, tc.want, tc.args)
		assert.Empty(t, r.stdout, tc.args)
	}
	// A port no socket uses (a listener's is described: TestWhyListener).
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	r := keepaliveCmd(t, "why", addr)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "no TCP connection with "+addr+" at either end in this network namespace")
}

// TestWhyKillSkipsTimeWait: --kill leaves a TIME-WAIT socket alone: it is
// closed already and the peer would receive no reset.
func TestWhyKillSkipsTimeWait(t *testing.T) {
	t.Parallel()
	client, server := testkit.Pair(t, testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}, nil, (&net.Dialer{KeepAlive: -1}).DialContext)
	local, remote := client.LocalAddr().String(), client.RemoteAddr().String()
	require.NoError(t, client.Close()) // the active closer waits out TIME-WAIT
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := server.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	require.NoError(t, server.Close())
	require.Eventually(t, func() bool {
		w := decode[whyOut](t, keepaliveCmd(t, "why", local, remote, "--json"))
		return len(w.Connections) == 1 && w.Connections[0].State == "time-wait"
	}, 5*time.Second, 50*time.Millisecond, "the client's end in TIME-WAIT")

	r := keepaliveCmd(t, "why", "--kill", "--yes", local, remote)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, local+" -> "+remote+" is in TIME-WAIT, closed already: not ended")
	assert.Contains(t, r.stderr, "nothing to end")
	assert.NotContains(t, r.stdout, "ended "+local)
}

// TestConnsListenerFlag: a connection handed to a child of the listener's
// process (sshd's sessions, systemd's Accept=yes) is not flagged; one that
// ends up with a process descending from no holder of the listener is.
func TestConnsListenerFlag(t *testing.T) {
	t.Parallel()
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	handOff := func(name string, args ...string) (net.Conn, *exec.Cmd, *bufio.Reader) {
		client, server := testkit.Pair(t, testkit.Loopback{Network: "tcp4"}, ln, (&net.Dialer{KeepAlive: -1}).DialContext)
		f, err := server.(*net.TCPConn).File()
		require.NoError(t, err)
		child := exec.Command(name, args...)
		child.ExtraFiles = []*os.File{f}
		child.Env = append(os.Environ(), envHelper+"=pass-fd3")
		out, err := child.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, child.Start())
		t.Cleanup(func() { child.Process.Kill(); child.Wait() })
		f.Close()
		server.Close() // only the child holds the accepted socket now
		return client, child, bufio.NewReader(out)
	}

	// A child of this process, the listener's holder: not flagged.
	client, child, _ := handOff("sleep", "30")
	r := keepaliveCmd(t, "conns", "--port", port, "--state", "established")
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stdout, fmt.Sprintf("! %s -> %s:", ln.Addr(), client.LocalAddr()))
	assert.Contains(t, r.stdout, fmt.Sprintf("sleep[%d] fd 3\n", child.Process.Pid), "not an orphan: its parent lives")

	// Handed on to a process re-parented away from this one: flagged.
	client, helper, out := handOff(os.Args[0])
	sleepPID, err := strconv.Atoi(readLine(t, out))
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Kill(sleepPID, syscall.SIGKILL) })
	require.NoError(t, helper.Process.Kill())
	helper.Wait()
	require.Eventually(t, func() bool { return ppid(t, sleepPID) != helper.Process.Pid }, 5*time.Second, 10*time.Millisecond, "sleep re-parented")
	r = keepaliveCmd(t, "conns", "--port", port, "--state", "established")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, fmt.Sprintf("! %s -> %s: not held by the process that holds its listener (pid %d)",
		ln.Addr(), client.LocalAddr(), os.Getpid()))

	w := decode[whyOut](t, keepaliveCmd(t, "why", ln.Addr().String(), client.LocalAddr().String(), "--json"))
	require.Len(t, w.Connections, 1)
	assert.Contains(t, strings.Join(w.Connections[0].Verdict.Why, " "), "Flag: not held by the process that holds its listener")
}

// TestConnsNetNS lists another process's network namespace by its PID: a
// connection made in a namespace of its own shows up only there.
func TestConnsNetNS(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		testkit.Skip(t, "skipping: entering another network namespace needs root")
	}
	// A process in a new namespace, holding a connection to itself.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), envHelper+"=netns-pair")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	defer func() { stdin.Close(); cmd.Wait() }()
	port := readLine(t, bufio.NewReader(out))
	pid := strconv.Itoa(cmd.Process.Pid)

	type connsOut struct {
		Connections []struct {
			Local   string   `json:"local"`
			Holders []holder `json:"holders"`
		} `json:"connections"`
	}
	in := decode[connsOut](t, keepaliveCmd(t, "conns", "--netns", pid, "--port", port, "--state", "established", "--json"))
	require.Len(t, in.Connections, 2, "both ends, in the namespace of pid %s", pid)
	for _, c := range in.Connections {
		require.Len(t, c.Holders, 1)
		assert.Equal(t, cmd.Process.Pid, c.Holders[0].PID)
		assert.Equal(t, filepath.Base(os.Args[0])[:min(15, len(filepath.Base(os.Args[0])))], c.Holders[0].Command, "comm: 15 bytes at most")
	}
	w := decode[whyOut](t, keepaliveCmd(t, "why", "--netns", pid, "127.0.0.1:"+port, "--json"))
	assert.Len(t, w.Connections, 2)
	here := decode[connsOut](t, keepaliveCmd(t, "conns", "--port", port, "--state", "established", "--json"))
	for _, c := range here.Connections {
		assert.NotEqual(t, cmd.Process.Pid, c.Holders[0].PID, "not in this namespace")
	}
}
