package keepalive_test

import (
	"context"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
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

// conns is how many connections each scenario makes, through one listener
// or dialer, so the counts are per connection and not per listener.
const conns = 3

// scenarios each make conns connection pairs in which only one end is
// configured (the other end has Go's keepalive off).
var scenarios = map[string]func(t *testing.T, lb testkit.Loopback){
	"keepalive dial":                        dialScenario(full.Dial),
	"keepalive dial without user timeout":   dialScenario(noUT.Dial),
	"keepalive dial idle only":              dialScenario(keepalive.Config{Idle: time.Minute}.Dial),
	"keepalive dialer without user timeout": dialScenario(noUT.Dialer(nil).DialContext),
	"keepalive accept": acceptScenario(func(lb testkit.Loopback) (net.Listener, error) {
		return full.Listen(context.Background(), lb.Network, lb.Addr)
	}),
	"keepalive accept without user timeout": acceptScenario(func(lb testkit.Loopback) (net.Listener, error) {
		return noUT.Listen(context.Background(), lb.Network, lb.Addr)
	}),
	"keepalive dialer over a user Control": func(t *testing.T, lb testkit.Loopback) {
		var ran int
		d := full.Dialer(&net.Dialer{Control: func(_, _ string, _ syscall.RawConn) error { ran++; return nil }})
		dialScenario(d.DialContext)(t, lb)
		require.Equal(t, conns, ran)
	},
	"keepalive wrap listener": acceptScenario(func(lb testkit.Loopback) (net.Listener, error) {
		lc := net.ListenConfig{KeepAlive: -1}
		lc.SetMultipathTCP(false)
		ln, err := lc.Listen(context.Background(), lb.Network, lb.Addr)
		return full.WrapListener(ln), err
	}),
	"keepalive wrap listener over Multipath TCP": acceptScenario(func(lb testkit.Loopback) (net.Listener, error) {
		lc := net.ListenConfig{KeepAlive: -1} // Go's default on Linux: Multipath TCP
		ln, err := lc.Listen(context.Background(), lb.Network, lb.Addr)
		return full.WrapListener(ln), err
	}),
	"keepalive apply": func(t *testing.T, lb testkit.Loopback) {
		for range conns {
			client, _ := testkit.Pair(t, lb, nil, plainDial)
			require.NoError(t, full.Apply(client))
		}
	},
	"std dial": dialScenario((&net.Dialer{KeepAliveConfig: stdKeepAlive}).DialContext),
	"std accept": acceptScenario(func(lb testkit.Loopback) (net.Listener, error) {
		lc := net.ListenConfig{KeepAliveConfig: stdKeepAlive}
		return lc.Listen(context.Background(), lb.Network, lb.Addr)
	}),
}

// dialScenario dials conns connections with dial to one plain listener.
func dialScenario(dial testkit.DialFunc) func(t *testing.T, lb testkit.Loopback) {
	return func(t *testing.T, lb testkit.Loopback) {
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err := lc.Listen(context.Background(), lb.Network, lb.Addr)
		require.NoError(t, err)
		for range conns {
			testkit.Pair(t, lb, ln, dial)
		}
	}
}

// acceptScenario accepts conns connections from one listener made by
// listen, dialed by a plain dialer.
func acceptScenario(listen func(testkit.Loopback) (net.Listener, error)) func(t *testing.T, lb testkit.Loopback) {
	return func(t *testing.T, lb testkit.Loopback) {
		ln, err := listen(lb)
		require.NoError(t, err)
		for range conns {
			testkit.Pair(t, lb, ln, plainDial)
		}
	}
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

var sockoptLine = regexp.MustCompile(`(set|get)sockopt\(\d+, \w+, (\w+),`)

// countSetsockopt runs one scenario under strace and counts the keepalive
// setsockopt calls by option.
func countSetsockopt(t *testing.T, strace, scenario string) map[string]int {
	out := filepath.Join(t.TempDir(), "strace")
	// Bounded: a hung scenario is killed (strace and the child with it)
	// instead of holding the suite until go test's own timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, strace, "-f", "-qq", "-e", "trace=setsockopt,getsockopt", "-e", "signal=none", "-o", out,
		os.Args[0], "-test.run=^TestSyscallScenario$", "-test.count=1", "-test.timeout=25s")
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), envScenario+"="+scenario)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	trace, err := os.ReadFile(out)
	require.NoError(t, err)
	counts := map[string]int{}
	for _, m := range sockoptLine.FindAllStringSubmatch(string(trace), -1) {
		switch op, opt := m[1], m[2]; {
		case op == "set" && (opt == "SO_KEEPALIVE" || opt == "TCP_KEEPIDLE" || opt == "TCP_KEEPINTVL" || opt == "TCP_KEEPCNT" || opt == "TCP_USER_TIMEOUT"):
			counts[opt]++
		case op == "get" && opt == "SO_PROTOCOL": // the Multipath TCP check
			counts["get SO_PROTOCOL"]++
		}
	}
	return counts
}

// Exactly one setsockopt per option set, per connection, dialed or
// accepted; and for the options the standard library can set, the same
// count as the standard library, measured the same way.
func TestSetsockoptCount(t *testing.T) {
	t.Parallel()
	strace, err := exec.LookPath("strace")
	if err != nil {
		testkit.Skip(t, "skipping: strace is not installed (apt-get install strace)")
	}
	perConn := func(opts ...string) map[string]int {
		m := map[string]int{}
		for _, o := range opts {
			m[o] = conns
		}
		return m
	}
	all := perConn("SO_KEEPALIVE", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_USER_TIMEOUT")
	noUserTimeout := perConn("SO_KEEPALIVE", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT")
	// Linux copies the listening socket's options to each accepted one:
	// Listen sets them once, on the listener, and none per connection.
	onListener := func(opts ...string) map[string]int {
		m := map[string]int{}
		for _, o := range opts {
			m[o] = 1
		}
		return m
	}
	with := func(m map[string]int, k string, v int) map[string]int {
		m = maps.Clone(m)
		m[k] = v
		return m
	}
	want := map[string]map[string]int{
		"keepalive dial":                        all,
		"keepalive accept":                      onListener("SO_KEEPALIVE", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_USER_TIMEOUT"),
		"keepalive dial without user timeout":   noUserTimeout,
		"keepalive dialer without user timeout": noUserTimeout,
		"keepalive accept without user timeout": onListener("SO_KEEPALIVE", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"),
		"keepalive dial idle only":              perConn("SO_KEEPALIVE", "TCP_KEEPIDLE"),
		"keepalive dialer over a user Control":  all,
		// The Multipath TCP check: once for a plain TCP listener, at wrap
		// time; per connection for Apply, whose socket can be anything.
		"keepalive wrap listener": with(all, "get SO_PROTOCOL", 1),
		// A Multipath TCP listener's connections may be either (where
		// Multipath TCP is off, Go's listener is plain TCP).
		"keepalive wrap listener over Multipath TCP": with(all, "get SO_PROTOCOL", 1+map[bool]int{true: conns}[mptcpOn]),
		"keepalive apply": with(all, "get SO_PROTOCOL", conns),
		"std dial":        noUserTimeout,
		"std accept":      noUserTimeout,
	}
	got := make(map[string]map[string]int, len(want))
	var mu sync.Mutex
	t.Run("scenarios", func(t *testing.T) {
		for name, w := range want {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c := countSetsockopt(t, strace, name)
				mu.Lock()
				got[name] = c
				mu.Unlock()
				assert.Equal(t, w, c, "setsockopt calls by option (and Multipath TCP checks) for %d connections", conns)
			})
		}
	})
	// Against the standard library's own count, not a number written here.
	assert.Equal(t, got["std dial"], got["keepalive dial without user timeout"], "dial: same options, same calls as net.Dialer")
	assert.Equal(t, got["std dial"], got["keepalive dialer without user timeout"], "Dialer: same options, same calls as net.Dialer")
	assert.Equal(t, slices.Sorted(maps.Keys(got["std accept"])), slices.Sorted(maps.Keys(got["keepalive accept without user timeout"])),
		"accept: the same options as net.ListenConfig, set once instead of per connection")
	names := slices.Sorted(maps.Keys(got))
	for _, name := range names {
		total := 0
		for _, n := range got[name] {
			total += n
		}
		t.Logf("%-40s %2d setsockopt calls for %d connections: %v", name, total, conns, got[name])
	}
}
