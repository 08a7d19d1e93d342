package keepalive_test

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// Every benchmark here runs the library next to its standard-library twin
// (and, for setting options on a socket, the raw floor) with the same values,
// in the same run, as sub-benchmarks named impl=... for benchstat -col /impl.
// go test -count repeats each sub-benchmark back to back, so twins would be
// measured minutes apart on a machine whose load changes: bench/run runs the
// test binary once per round instead, and BenchmarkPaired times twins in
// alternating blocks within each op.
//
// opts=4 is SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT (noUT),
// the most the standard library can set. opts=5 adds TCP_USER_TIMEOUT (full),
// which only the library and the floor can set.

// floor is the cheapest way to set the options from Go: one
// SyscallConn().Control with the raw setsockopt calls of golang.org/x/sys/unix
// and no heap allocation (the callback is bound once, not a fresh closure per
// call), after the one getsockopt(SO_PROTOCOL) that tells a Multipath TCP
// socket, which Apply and Control must refuse. It is what they must come
// close to.
type floor struct {
	idle, intvl, count, userTimeout int
	err                             error
	fn                              func(fd uintptr)
}

func newFloor(c keepalive.Config) *floor {
	f := &floor{
		idle:        int(c.Idle / time.Second),
		intvl:       int(c.Interval / time.Second),
		count:       c.Count,
		userTimeout: int(c.UserTimeout / time.Millisecond),
	}
	f.fn = f.set
	return f
}

func (f *floor) set(sysfd uintptr) {
	fd := int(sysfd)
	var proto int
	if proto, f.err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); f.err != nil {
		return
	}
	if proto == unix.IPPROTO_MPTCP {
		f.err = keepalive.ErrMultipathTCP
		return
	}
	if f.userTimeout > 0 {
		if f.err = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, f.userTimeout); f.err != nil {
			return
		}
	}
	if f.err = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, f.idle); f.err != nil {
		return
	}
	if f.err = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, f.intvl); f.err != nil {
		return
	}
	if f.err = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, f.count); f.err != nil {
		return
	}
	f.err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
}

// apply is the floor on a connection: SyscallConn and Control in one
// function, as the library does, so the RawConn stays on the stack.
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

// getFloor reads the five options back with raw getsockopt calls, the floor
// for Inspect.
type getFloor struct {
	vals [5]int
	err  error
	fn   func(fd uintptr)
}

func newGetFloor() *getFloor {
	g := new(getFloor)
	g.fn = g.get
	return g
}

func (g *getFloor) get(sysfd uintptr) { g.err = getFive(int(sysfd), &g.vals) }

// getFive reads SO_KEEPALIVE and the four options with raw getsockopts.
func getFive(fd int, vals *[5]int) (err error) {
	opts := [5][2]int{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
		{unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT},
	}
	for i, o := range opts {
		if vals[i], err = unix.GetsockoptInt(fd, o[0], o[1]); err != nil {
			return err
		}
	}
	return nil
}

func (g *getFloor) inspect(tc *net.TCPConn) error {
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	if err := rc.Control(g.fn); err != nil {
		return err
	}
	return g.err
}

// runLoop runs op as the sub-benchmark name, with allocations reported.
func runLoop(b *testing.B, name string, op func() error) {
	b.Run(name, func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Setting the options on an existing connection.
func BenchmarkApply(b *testing.B) {
	client, _ := testkit.Pair(b, testkit.Loopbacks(b)[0], nil, plainDial)
	tc := client.(*net.TCPConn)
	run := func(name string, apply func() error) { runLoop(b, name, apply) }
	raw4, raw5 := newFloor(noUT), newFloor(full)
	run("opts=4/impl=raw", func() error { return raw4.apply(tc) })
	run("opts=4/impl=keepalive", func() error { return noUT.Apply(client) })
	run("opts=4/impl=std", func() error { return tc.SetKeepAliveConfig(stdKeepAlive) })
	run("opts=5/impl=raw", func() error { return raw5.apply(tc) })
	run("opts=5/impl=keepalive", func() error { return full.Apply(client) })
}

// The Control hook alone on a RawConn, against the floor's callback in the
// same RawConn.Control.
func BenchmarkControl(b *testing.B) {
	client, _ := testkit.Pair(b, testkit.Loopbacks(b)[0], nil, plainDial)
	rc, err := client.(*net.TCPConn).SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	run := func(name string, control func() error) { runLoop(b, name, control) }
	raw4, raw5 := newFloor(noUT), newFloor(full)
	run("opts=4/impl=raw", func() error {
		if err := rc.Control(raw4.fn); err != nil {
			return err
		}
		return raw4.err
	})
	run("opts=4/impl=keepalive", func() error { return noUT.Control("tcp4", "", rc) })
	run("opts=5/impl=raw", func() error {
		if err := rc.Control(raw5.fn); err != nil {
			return err
		}
		return raw5.err
	})
	run("opts=5/impl=keepalive", func() error { return full.Control("tcp4", "", rc) })
}

// Reading the five options back: Inspect against raw getsockopt calls.
func BenchmarkInspect(b *testing.B) {
	client, _ := testkit.Pair(b, testkit.Loopbacks(b)[0], nil, full.Dial)
	tc := client.(*net.TCPConn)
	g := newGetFloor()
	b.Run("impl=raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := g.inspect(tc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=keepalive", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := keepalive.Inspect(client); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// connect makes one loopback connection per op with connectOnce.
func connect(b *testing.B, ln net.Listener, dial testkit.DialFunc) {
	addr := ln.Addr().String()
	b.ReportAllocs()
	for b.Loop() {
		if err := connectOnce(ln, addr, dial); err != nil {
			b.Fatal(err)
		}
	}
}

// connectOnce makes one loopback connection, dialed with dial and accepted
// from ln in the same goroutine (the kernel completes the handshake before
// Accept is called), then closes both ends. The client closes with
// SO_LINGER 0, so a RST ends the connection and neither end lingers in
// TIME_WAIT: a long run does not run out of ephemeral ports. Every twin pays
// the same close.
// addr is ln's address, taken once by the caller so the op does not
// allocate it.
func connectOnce(ln net.Listener, addr string, dial testkit.DialFunc) error {
	c, err := dial(context.Background(), "tcp", addr)
	if err != nil {
		return err
	}
	s, err := ln.Accept()
	if err != nil {
		c.Close()
		return err
	}
	err = c.(interface{ SetLinger(int) error }).SetLinger(0) // a *net.TCPConn, or a WatchConn wrapper of one
	c.Close()
	s.Close()
	return err
}

// Dialing: Config.Dial and Config.Dialer against net.Dialer with the same
// values in KeepAliveConfig. The listener is the same plain one for all.
func BenchmarkDial(b *testing.B) {
	lb := testkit.Loopbacks(b)[0]
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), lb.Network, lb.Addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	std := &net.Dialer{KeepAliveConfig: stdKeepAlive}
	dialer := noUT.Dialer(nil)
	for _, bc := range []struct {
		name string
		dial testkit.DialFunc
	}{
		{"opts=4/impl=std", std.DialContext},
		{"opts=4/impl=keepalive", noUT.Dial},
		{"opts=4/impl=keepalive-dialer", dialer.DialContext},
		{"opts=5/impl=keepalive", full.Dial},
	} {
		b.Run(bc.name, func(b *testing.B) { connect(b, ln, bc.dial) })
	}
}

// Accepting: Config.Listen against net.ListenConfig with the same values in
// KeepAliveConfig; the client is a plain dialer. keepalive.Listen listens
// with plain TCP and sets the options once, on the listening socket; the
// standard library sets them on every accepted connection. std-tcp is
// net.ListenConfig on plain TCP too, the like-for-like twin; std is Go's
// default, Multipath TCP on Linux.
func BenchmarkAccept(b *testing.B) {
	lb := testkit.Loopbacks(b)[0]
	ctx := context.Background()
	listen := func(f func() (net.Listener, error)) net.Listener {
		ln, err := f()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ln.Close() })
		return ln
	}
	std := listen(func() (net.Listener, error) {
		lc := net.ListenConfig{KeepAliveConfig: stdKeepAlive}
		return lc.Listen(ctx, lb.Network, lb.Addr)
	})
	stdTCP := listen(func() (net.Listener, error) {
		lc := net.ListenConfig{KeepAliveConfig: stdKeepAlive}
		lc.SetMultipathTCP(false)
		return lc.Listen(ctx, lb.Network, lb.Addr)
	})
	lib4 := listen(func() (net.Listener, error) { return noUT.Listen(ctx, lb.Network, lb.Addr) })
	lib5 := listen(func() (net.Listener, error) { return full.Listen(ctx, lb.Network, lb.Addr) })
	b.Run("opts=4/impl=std", func(b *testing.B) { connect(b, std, plainDial) })
	b.Run("opts=4/impl=std-tcp", func(b *testing.B) { connect(b, stdTCP, plainDial) })
	b.Run("opts=4/impl=keepalive", func(b *testing.B) { connect(b, lib4, plainDial) })
	b.Run("opts=5/impl=keepalive", func(b *testing.B) { connect(b, lib5, plainDial) })
}

// BenchmarkPaired measures the targets in a way that holds on a shared
// machine: each op runs a block of library calls and a block of the
// baseline's, back to back (alternating which goes first), and the
// benchmark reports the median over ops of the per-op time ratio,
// library/baseline, as "ratio". Load that comes and goes hits both blocks of
// an op alike, where separate benchmarks seconds apart can see different
// machines. ns/op is the time for both blocks and means little.
func BenchmarkPaired(b *testing.B) {
	lb := testkit.Loopbacks(b)[0]
	ctx := context.Background()
	client, _ := testkit.Pair(b, lb, nil, plainDial)
	tc := client.(*net.TCPConn)
	rc, err := tc.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	raw4, raw5 := newFloor(noUT), newFloor(full)
	listen := func(f func() (net.Listener, error)) net.Listener {
		ln, err := f()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ln.Close() })
		return ln
	}
	plain := listen(func() (net.Listener, error) {
		lc := net.ListenConfig{KeepAlive: -1}
		return lc.Listen(ctx, lb.Network, lb.Addr)
	})
	stdLn := listen(func() (net.Listener, error) {
		lc := net.ListenConfig{KeepAliveConfig: stdKeepAlive}
		return lc.Listen(ctx, lb.Network, lb.Addr)
	})
	stdTCPLn := listen(func() (net.Listener, error) {
		lc := net.ListenConfig{KeepAliveConfig: stdKeepAlive}
		lc.SetMultipathTCP(false) // like for like: keepalive.Listen is plain TCP
		return lc.Listen(ctx, lb.Network, lb.Addr)
	})
	libLn := listen(func() (net.Listener, error) { return noUT.Listen(ctx, lb.Network, lb.Addr) })
	plainAddr, stdAddr, stdTCPAddr, libAddr := plain.Addr().String(), stdLn.Addr().String(), stdTCPLn.Addr().String(), libLn.Addr().String()
	stdDialer := &net.Dialer{KeepAliveConfig: stdKeepAlive}
	libDialer := noUT.Dialer(nil)
	const fast, slow = 64, 8 // calls per block: about 100 µs and 300 µs
	for _, bc := range []struct {
		name      string
		block     int
		lib, base func() error
	}{
		{"Apply/opts=4/vs=raw", fast, func() error { return noUT.Apply(client) }, func() error { return raw4.apply(tc) }},
		{"Apply/opts=5/vs=raw", fast, func() error { return full.Apply(client) }, func() error { return raw5.apply(tc) }},
		{"Apply/opts=4/vs=std", fast, func() error { return noUT.Apply(client) }, func() error { return tc.SetKeepAliveConfig(stdKeepAlive) }},
		{"Control/opts=4/vs=raw", fast, func() error { return noUT.Control("tcp4", "", rc) }, func() error {
			if err := rc.Control(raw4.fn); err != nil {
				return err
			}
			return raw4.err
		}},
		{"Dial/opts=4/vs=std", slow, func() error { return connectOnce(plain, plainAddr, noUT.Dial) }, func() error { return connectOnce(plain, plainAddr, stdDialer.DialContext) }},
		{"Dialer/opts=4/vs=std", slow, func() error { return connectOnce(plain, plainAddr, libDialer.DialContext) }, func() error { return connectOnce(plain, plainAddr, stdDialer.DialContext) }},
		{"Accept/opts=4/vs=std", slow, func() error { return connectOnce(libLn, libAddr, plainDial) }, func() error { return connectOnce(stdLn, stdAddr, plainDial) }},
		{"Accept/opts=4/vs=std-tcp", slow, func() error { return connectOnce(libLn, libAddr, plainDial) }, func() error { return connectOnce(stdTCPLn, stdTCPAddr, plainDial) }},
	} {
		b.Run(bc.name, func(b *testing.B) { paired(b, bc.block, bc.lib, bc.base) })
	}
}

func paired(b *testing.B, block int, lib, base func() error) {
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
			l = timeBlock(lib)
			r = timeBlock(base)
		} else {
			r = timeBlock(base)
			l = timeBlock(lib)
		}
		ratios = append(ratios, float64(l)/float64(r))
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
}
