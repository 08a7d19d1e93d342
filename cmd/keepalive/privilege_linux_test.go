package main

import (
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The copy of bin with file capabilities that uid 65534 runs, made once.
var (
	cappedOnce sync.Once
	cappedBin  string
	cappedErr  error
)

// setFileCaps gives the file at path the capabilities caps, permitted and
// effective, as setcap cap_...+ep does (a version 2 security.capability
// attribute).
func setFileCaps(path string, caps ...int) error {
	var perm uint64
	for _, c := range caps {
		perm |= 1 << c
	}
	b := make([]byte, 20)
	le := binary.LittleEndian
	le.PutUint32(b[0:], 0x02000000|0x1) // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
	le.PutUint32(b[4:], uint32(perm))
	le.PutUint32(b[12:], uint32(perm>>32))
	return unix.Setxattr(path, "security.capability", b, 0)
}

// cappedNobody runs a copy of the command given CAP_NET_ADMIN and
// CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH as file capabilities, as uid
// 65534.
func cappedNobody(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		testkit.Skip(t, "skipping: setting file capabilities and running as uid 65534 needs root")
	}
	cappedOnce.Do(func() {
		cappedBin, cappedErr = copyForNobody()
		if cappedErr == nil {
			cappedErr = setFileCaps(cappedBin, unix.CAP_NET_ADMIN, unix.CAP_SYS_PTRACE, unix.CAP_DAC_READ_SEARCH)
		}
	})
	if cappedErr != nil {
		testkit.Skip(t, "skipping: cannot give a copy of the command file capabilities here: "+cappedErr.Error())
	}
	cmd := exec.Command(cappedBin, args...)
	cmd.Dir = filepath.Dir(cappedBin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	return cmd
}

func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not finish within a minute", cmd.Args)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode(), 0}
}

// dialAs dials addr from a socket created with the file-system uid uid:
// the kernel records the socket as that user's (sock_diag's idiag_uid),
// although this process holds it.
func dialAs(t *testing.T, uid int, addr string) net.Conn {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, err := unix.SetfsuidRetUid(uid)
	require.NoError(t, err)
	c, err := (&net.Dialer{KeepAlive: -1, Timeout: 5 * time.Second}).Dial("tcp4", addr)
	_, rerr := unix.SetfsuidRetUid(prev)
	require.NoError(t, rerr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func stillUp(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, err := c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, msg)
}

// TestWhyFileCapabilities: a binary given CAP_NET_ADMIN, CAP_SYS_PTRACE and
// CAP_DAC_READ_SEARCH
// as file capabilities (setcap) and run by uid 65534 must not let that user
// end, or read the options of, another user's connection: it ends only the
// user's own (idiag_uid), and reads holders with the user's own rights.
func TestWhyFileCapabilities(t *testing.T) {
	t.Parallel()
	cfg := keepalive.Config{Idle: 4321 * time.Second, Interval: 7 * time.Second, Count: 3}
	rootConn, _ := testkit.Pair(t, testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}, nil, cfg.Dial)
	local, remote := rootConn.LocalAddr().String(), rootConn.RemoteAddr().String()

	r := runCmd(t, cappedNobody(t, "why", "--json", local, remote))
	w := decode[whyOut](t, r)
	require.Len(t, w.Connections, 1)
	c := w.Connections[0]
	assert.Empty(t, c.Holders, "root's process is not uid 65534's to inspect")
	assert.Nil(t, c.Options, "nor are its socket options")

	r = runCmd(t, cappedNobody(t, "why", "--kill", "--yes", local, remote))
	t.Logf("capped nobody: why --kill %s %s: exit %d\n%s%s", local, remote, r.code, r.stdout, r.stderr)
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "owned by uid 0")
	assert.NotContains(t, r.stdout, "ended "+local)
	stillUp(t, rootConn, "root's connection is not uid 65534's to end")

	// The user's own connection: ended.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	own := dialAs(t, 65534, ln.Addr().String())
	srv, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	local, remote = own.LocalAddr().String(), own.RemoteAddr().String()
	r = runCmd(t, cappedNobody(t, "why", "--kill", "--yes", local, remote))
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "ended "+local+" -> "+remote)
	require.NoError(t, own.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = own.Read(make([]byte, 1))
	assert.ErrorIs(t, err, syscall.ECONNABORTED, "uid 65534's own connection, ended")
}

// TestWhyUnreadableValues: run by a user who may not read the holder's
// socket options, why must not build a verdict from the system's defaults
// as if they were the socket's: a root connection with 30s/5s/2 was
// reported healthy, ending 2h11m15s after the last segment (in_s 7875,
// nothing marked assumed), next to its keepalive timer firing in 29s.
func TestWhyUnreadableValues(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		testkit.Skip(t, "skipping: running why as a user who may not read this process's sockets (uid 65534) needs root")
	}
	cfg := keepalive.Config{Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 2}
	client, _ := testkit.Pair(t, testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}, nil, cfg.Dial)
	local, remote := client.LocalAddr().String(), client.RemoteAddr().String()
	sysIdle := detect(t, keepaliveValues(hostSys(t))).Idle

	w := decode[whyOut](t, runCmd(t, unprivileged(t, "why", "--json", local, remote)))
	require.Len(t, w.Connections, 1)
	c := w.Connections[0]
	require.Nil(t, c.Options, "uid 65534 may not read root's socket options")
	assert.Equal(t, "on", c.Keepalive, "from the keepalive timer")
	assert.Equal(t, "unknown", c.Verdict.Ends)
	assert.Nil(t, c.Verdict.In, "no time from values the socket may not have")
	assert.Nil(t, c.Verdict.Latest)
	assert.Contains(t, c.Verdict.Cause, "could not be read")

	r := runCmd(t, unprivileged(t, "why", local, remote))
	require.Equal(t, 0, r.code, r.stderr)
	t.Logf("as uid 65534:\n%s", r.stdout)
	assert.NotContains(t, r.stdout, "healthy")
	assert.NotContains(t, r.stdout, dur(sysIdle), "the system's model")
	assert.NotContains(t, r.stdout, "assuming the system's")
	assert.Contains(t, r.stdout, "Verdict: unknown")
}
