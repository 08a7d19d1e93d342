//go:build linux

package keepalive_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

const envScenario = "KEEPALIVE_SYSCALL_SCENARIO"

var stdKeepAlive = net.KeepAliveConfig{Enable: true, Idle: noUT.Idle, Interval: noUT.Interval, Count: noUT.Count}

// scenarios each make one connection pair in which only one end is
// configured (the other end has Go's keepalive off).
var scenarios = map[string]func(t *testing.T, lb testkit.Loopback){
	"keepalive dial": func(t *testing.T, lb testkit.Loopback) { testkit.Pair(t, lb, nil, full.Dial) },
	"keepalive dial without user timeout": func(t *testing.T, lb testkit.Loopback) {
		testkit.Pair(t, lb, nil, noUT.Dial)
	},
	"keepalive dial idle only": func(t *testing.T, lb testkit.Loopback) {
		testkit.Pair(t, lb, nil, keepalive.Config{Idle: time.Minute}.Dial)
	},
	"keepalive accept": func(t *testing.T, lb testkit.Loopback) {
		ln, err := full.Listen(context.Background(), lb.Network, lb.Addr)
		require.NoError(t, err)
		testkit.Pair(t, lb, ln, plainDial)
	},
	"keepalive accept without user timeout": func(t *testing.T, lb testkit.Loopback) {
		ln, err := noUT.Listen(context.Background(), lb.Network, lb.Addr)
		require.NoError(t, err)
		testkit.Pair(t, lb, ln, plainDial)
	},
	"keepalive dialer over a user Control": func(t *testing.T, lb testkit.Loopback) {
		var ran bool
		d := full.Dialer(&net.Dialer{Control: func(_, _ string, _ syscall.RawConn) error { ran = true; return nil }})
		testkit.Pair(t, lb, nil, d.DialContext)
		require.True(t, ran)
	},
	"keepalive wrap listener": func(t *testing.T, lb testkit.Loopback) {
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err := lc.Listen(context.Background(), lb.Network, lb.Addr)
		require.NoError(t, err)
		testkit.Pair(t, lb, full.WrapListener(ln), plainDial)
	},
	"keepalive apply": func(t *testing.T, lb testkit.Loopback) {
		client, _ := testkit.Pair(t, lb, nil, plainDial)
		require.NoError(t, full.Apply(client))
	},
	"std dial": func(t *testing.T, lb testkit.Loopback) {
		testkit.Pair(t, lb, nil, (&net.Dialer{KeepAliveConfig: stdKeepAlive}).DialContext)
	},
	"std accept": func(t *testing.T, lb testkit.Loopback) {
		lc := net.ListenConfig{KeepAliveConfig: stdKeepAlive}
		ln, err := lc.Listen(context.Background(), lb.Network, lb.Addr)
		require.NoError(t, err)
		testkit.Pair(t, lb, ln, plainDial)
	},
}

// TestSyscallScenario is not a test of its own: TestSetsockoptCount runs it
// under strace, one scenario per process.
func TestSyscallScenario(t *testing.T) {
	name := os.Getenv(envScenario)
	if name == "" {
		t.Skip("run by TestSetsockoptCount under strace")
	}
	scenarios[name](t, testkit.Loopbacks(t)[0])
}

var setsockoptLine = regexp.MustCompile(`setsockopt\(\d+, \w+, (\w+),`)

// countSetsockopt runs one scenario under strace and counts the keepalive
// setsockopt calls by option.
func countSetsockopt(t *testing.T, strace, scenario string) map[string]int {
	out := filepath.Join(t.TempDir(), "strace")
	cmd := exec.Command(strace, "-f", "-qq", "-e", "trace=setsockopt", "-e", "signal=none", "-o", out,
		os.Args[0], "-test.run=^TestSyscallScenario$", "-test.count=1")
	cmd.Env = append(os.Environ(), envScenario+"="+scenario)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	trace, err := os.ReadFile(out)
	require.NoError(t, err)
	counts := map[string]int{}
	for _, m := range setsockoptLine.FindAllStringSubmatch(string(trace), -1) {
		switch opt := m[1]; opt {
		case "SO_KEEPALIVE", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_USER_TIMEOUT":
			counts[opt]++
		}
	}
	return counts
}

// Exactly one setsockopt per option set, per connection, dialed or
// accepted, and no more than the standard library makes for the same values.
func TestSetsockoptCount(t *testing.T) {
	t.Parallel()
	strace, err := exec.LookPath("strace")
	if err != nil {
		testkit.Skip(t, "skipping: strace is not installed (apt-get install strace)")
	}
	all := map[string]int{"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 1, "TCP_KEEPINTVL": 1, "TCP_KEEPCNT": 1, "TCP_USER_TIMEOUT": 1}
	noUserTimeout := map[string]int{"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 1, "TCP_KEEPINTVL": 1, "TCP_KEEPCNT": 1}
	want := map[string]map[string]int{
		"keepalive dial":                        all,
		"keepalive accept":                      all,
		"keepalive dial without user timeout":   noUserTimeout,
		"keepalive accept without user timeout": noUserTimeout,
		"keepalive dial idle only":              {"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 1},
		"keepalive dialer over a user Control":  all,
		"keepalive wrap listener":               all,
		"keepalive apply":                       all,
		"std dial":                              noUserTimeout,
		"std accept":                            noUserTimeout,
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, w, countSetsockopt(t, strace, name))
		})
	}
}
