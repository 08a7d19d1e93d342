package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHolderNameEscaped: a process named through a symlink with an escape
// sequence and a newline in its name must put neither on the operator's
// terminal: conns and why print its name as ps does, non-printable bytes
// as '?'. The JSON keeps the name as it is (encoded, so harmless).
func TestHolderNameEscaped(t *testing.T) {
	t.Parallel()
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	const name = "\x1b[31mEV\n! pwn" // 13 bytes: all of it in comm
	link := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.Symlink(sleep, link))

	client, server := testkit.Pair(t, testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}, nil, (&net.Dialer{KeepAlive: -1}).DialContext)
	f, err := server.(*net.TCPConn).File()
	require.NoError(t, err)
	child := exec.Command(link, "30") // bounded: killed at the end
	child.ExtraFiles = []*os.File{f}
	require.NoError(t, child.Start())
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	f.Close()
	require.Eventually(t, func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(child.Process.Pid) + "/comm")
		return err == nil && strings.TrimSuffix(string(b), "\n") == name
	}, 5*time.Second, 10*time.Millisecond, "the child runs under the symlink's name")
	server.Close() // the child alone holds the server's end
	local, remote := server.LocalAddr().String(), client.LocalAddr().String()
	port := strconv.Itoa(server.LocalAddr().(*net.TCPAddr).Port)
	shown := "?[31mEV?! pwn"

	for _, args := range [][]string{{"conns", "--port", port}, {"why", local, remote}} {
		r := keepaliveCmd(t, args...)
		require.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
		t.Logf("keepalive %v:\n%s", args, r.stdout)
		assert.NotContains(t, r.stdout, "\x1b", args)
		for _, line := range strings.Split(r.stdout, "\n") {
			assert.False(t, strings.HasPrefix(line, "! pwn"), "%v: a forged line: %q", args, line)
		}
		assert.Contains(t, r.stdout, shown, args)
	}
	w := decode[whyOut](t, keepaliveCmd(t, "why", "--json", local, remote))
	require.Len(t, w.Connections, 1)
	require.Len(t, w.Connections[0].Holders, 1)
	assert.Equal(t, name, w.Connections[0].Holders[0].Command, "JSON: the name as it is")
}
