// Package peers benchmarks setting keepalive options on an existing
// connection with this library, the standard library, the raw floor and
// github.com/mikioh/tcpopt (through github.com/mikioh/tcp), in the same run.
// It is its own module so the library's go.mod stays small.
//
// github.com/felixge/tcpkeepalive is not here: the Go module proxy does not
// serve it (403). It reaches the socket through conn.File() and File.Fd(),
// which dups the descriptor (left open until the File is garbage-collected)
// and puts it in blocking mode; O_NONBLOCK lives in the open file
// description the dup shares, so the connection itself turns blocking.
package peers

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/mikioh/tcp"
	"github.com/mikioh/tcpopt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// cfg has values no default has, so the read-back cannot pass by accident.
// No UserTimeout: tcpopt has no TCP_USER_TIMEOUT, so all peers set the same
// four options.
var cfg = keepalive.Config{Idle: 41 * time.Second, Interval: 13 * time.Second, Count: 6}

var stdCfg = net.KeepAliveConfig{Enable: true, Idle: cfg.Idle, Interval: cfg.Interval, Count: cfg.Count}

// mikiohApply is how a tcpopt user sets the same options: one SetOption,
// hence one RawConn.Control, per option.
func mikiohApply(tc *tcp.Conn) error {
	for _, o := range []tcpopt.Option{
		tcpopt.KeepAliveIdleInterval(cfg.Idle),
		tcpopt.KeepAliveProbeInterval(cfg.Interval),
		tcpopt.KeepAliveProbeCount(cfg.Count),
		tcpopt.KeepAlive(true),
	} {
		if err := tc.SetOption(o); err != nil {
			return err
		}
	}
	return nil
}

// floor: one SyscallConn().Control with the raw setsockopt calls, the
// callback bound once so nothing is allocated.
type floor struct {
	err error
	fn  func(uintptr)
}

func newFloor() *floor {
	f := new(floor)
	f.fn = f.set
	return f
}

func (f *floor) set(sysfd uintptr) {
	fd := int(sysfd)
	for _, o := range [4][3]int{
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(cfg.Idle / time.Second)},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(cfg.Interval / time.Second)},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, cfg.Count},
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
	} {
		if f.err = unix.SetsockoptInt(fd, o[0], o[1], o[2]); f.err != nil {
			return
		}
	}
}

func (f *floor) apply(tc *net.TCPConn) error {
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	if err := rc.Control(f.fn); err != nil {
		return err
	}
	return f.err
}

func plainDial(ctx context.Context, network, address string) (net.Conn, error) {
	d := net.Dialer{KeepAlive: -1}
	return d.DialContext(ctx, network, address)
}

func BenchmarkApply(b *testing.B) {
	client, _ := testkit.Pair(b, testkit.Loopbacks(b)[0], nil, plainDial)
	tc := client.(*net.TCPConn)
	mc, err := tcp.NewConn(client)
	require.NoError(b, err)
	raw := newFloor()
	for _, bc := range []struct {
		name  string
		apply func() error
	}{
		{"impl=raw", func() error { return raw.apply(tc) }},
		{"impl=keepalive", func() error { return cfg.Apply(client) }},
		{"impl=std", func() error { return tc.SetKeepAliveConfig(stdCfg) }},
		// From a net.Conn, as Apply is called: tcp.NewConn, then the options.
		{"impl=mikioh", func() error {
			c, err := tcp.NewConn(client)
			if err != nil {
				return err
			}
			return mikiohApply(c)
		}},
		// With the *tcp.Conn kept from an earlier call.
		{"impl=mikioh-reused", func() error { return mikiohApply(mc) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.apply(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPaired reports the time ratio of two ways to apply, measured in
// alternating blocks of 64 calls (median over ops), which holds on a shared
// machine where separate benchmarks seconds apart can see different loads.
func BenchmarkPaired(b *testing.B) {
	client, _ := testkit.Pair(b, testkit.Loopbacks(b)[0], nil, plainDial)
	tc := client.(*net.TCPConn)
	raw := newFloor()
	lib := func() error { return cfg.Apply(client) }
	for _, bc := range []struct {
		name      string
		lib, base func() error
	}{
		{"keepalive/vs=raw", lib, func() error { return raw.apply(tc) }},
		{"mikioh/vs=keepalive", func() error {
			c, err := tcp.NewConn(client)
			if err != nil {
				return err
			}
			return mikiohApply(c)
		}, lib},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const block = 64
			timeBlock := func(f func() error) time.Duration {
				start := time.Now()
				for range block {
					if err := f(); err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(start)
			}
			var ratios []float64
			for b.Loop() {
				var l, r time.Duration
				if len(ratios)%2 == 0 {
					l, r = timeBlock(bc.lib), timeBlock(bc.base)
				} else {
					r, l = timeBlock(bc.base), timeBlock(bc.lib)
				}
				ratios = append(ratios, float64(l)/float64(r))
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "ratio")
		})
	}
}

// Every peer sets the same values, read back by the kernel: the benchmark
// compares like with like.
func TestPeersSetTheSameValues(t *testing.T) {
	t.Parallel()
	lb := testkit.Loopbacks(t)[0]
	want := cfg.Rounded()
	for name, apply := range map[string]func(net.Conn) error{
		"keepalive": cfg.Apply,
		"std":       func(c net.Conn) error { return c.(*net.TCPConn).SetKeepAliveConfig(stdCfg) },
		"raw":       func(c net.Conn) error { return newFloor().apply(c.(*net.TCPConn)) },
		"mikioh": func(c net.Conn) error {
			tc, err := tcp.NewConn(c)
			if err != nil {
				return err
			}
			return mikiohApply(tc)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			client, _ := testkit.Pair(t, lb, nil, plainDial)
			before, err := keepalive.Inspect(client)
			require.ErrorIs(t, err, keepalive.ErrDisabled, "keepalive must start off")
			require.NotEqual(t, want, before)
			require.NoError(t, apply(client))
			got, err := keepalive.Inspect(client)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}
