package keepalive

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"sync/atomic"
	"syscall"

	"github.com/keepalive-go/keepalive/internal/netconn"
)

// Dialer returns a copy of base (a zero net.Dialer if base is nil) that sets
// c on each TCP socket before it connects; zero fields keep the system's
// values. Its KeepAlive is -1 and its KeepAliveConfig zero, so Go does not
// overwrite c with its own 15 s, 15 s, 9. A Control or ControlContext on
// base still runs, first. An invalid c makes every TCP dial fail with the
// Validate error; UDP and unix dials are left alone. It dials plain TCP,
// even where base enabled Multipath TCP (see ErrMultipathTCP).
func (c Config) Dialer(base *net.Dialer) *net.Dialer {
	var d net.Dialer
	if base != nil {
		d = *base
	}
	d.KeepAlive = -1
	d.KeepAliveConfig = net.KeepAliveConfig{}
	d.SetMultipathTCP(false)
	switch user, userCtx := d.Control, d.ControlContext; {
	case userCtx != nil: // net.Dialer ignores Control when ControlContext is set
		d.ControlContext = func(ctx context.Context, network, address string, rc syscall.RawConn) error {
			if err := userCtx(ctx, network, address, rc); err != nil {
				return err
			}
			return c.controlPlain(network, address, rc)
		}
	case user != nil:
		d.Control = func(network, address string, rc syscall.RawConn) error {
			if err := user(network, address, rc); err != nil {
				return err
			}
			return c.controlPlain(network, address, rc)
		}
	default:
		d.Control = c.controlPlain
	}
	return &d
}

// Dial connects to address on a TCP network ("tcp", "tcp4", "tcp6") and
// sets c on the connection once it is established, as net.Dialer sets its
// own keepalive; zero fields keep the system's values. It dials plain TCP
// (see ErrMultipathTCP). c is validated first;
// other networks fail with ErrNotTCP. Unlike Dialer's hook, which sets c
// before connecting, Dial leaves the handshake to ctx: a UserTimeout does
// not shorten it.
func (c Config) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	p := host()
	if err := p.validate(c); err != nil {
		return nil, err
	}
	// No Control hook: the net package allocates five times per dial to
	// run one. The new socket holds the system's values, so c goes on as is.
	d := net.Dialer{KeepAlive: -1}
	d.SetMultipathTCP(false)
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	// A *net.TCPConn, as net.Dialer makes for TCP networks: onTCP, not the
	// whole of onConn, so a program that only dials links no more.
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("%w: net.Dialer returned a %T for %q", ErrNotTCP, conn, network)
	}
	op := fdOp{kind: opApply, cfg: p.rounded(c), plain: true} // plain TCP: dialed so
	cerr, err := onTCP(tc, &op)
	if cerr != nil {
		err = cerr
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// Listen announces on a TCP network ("tcp", "tcp4", "tcp6") and returns a
// *Listener whose accepted connections hold c, zero fields at the system's
// values. c is validated before anything else happens. On Linux the
// listening socket holds c and the kernel copies it to every accepted
// connection, so accepting costs no system call beyond Go's own; elsewhere
// each accepted connection is set as Apply would. Listen uses plain TCP,
// not Go's default Multipath TCP on Linux (see ErrMultipathTCP).
func (c Config) Listen(ctx context.Context, network, address string) (*Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	p := host()
	if err := p.validate(c); err != nil {
		return nil, err
	}
	lc := net.ListenConfig{KeepAlive: -1}
	lc.SetMultipathTCP(false)
	if p.acceptInherits {
		lc.Control = c.controlPlain
	}
	ln, err := lc.Listen(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &Listener{ln: ln, cfg: p.rounded(c), set: !p.acceptInherits, plain: true}, nil
}

// WrapListener returns a *Listener that sets c on every connection ln
// accepts, as Apply does: zero fields get the system's values, read once
// here, so the connections hold what c.Detection(ReadSystem()) assumes
// even where ln's ListenConfig left Go's own keepalive on. If setting
// fails for one connection (it was reset already, or it is Multipath TCP,
// as net.Listen's Linux default lets clients make: see ErrMultipathTCP),
// that connection is closed, the failure reported (see Listener.OnError),
// and Accept goes on to the next: one bad connection never stops a server.
//
// If c is invalid, ln is not a TCP listener, or its connections hide their
// socket (a wrapper such as netutil.LimitListener's: put WrapListener
// innermost), Accept returns that error, so a server on it stops at once
// and says why.
func (c Config) WrapListener(ln net.Listener) *Listener {
	p := host()
	l := &Listener{ln: ln, set: true}
	switch err := p.validate(c); {
	case err != nil:
		l.fail(err)
	case netconn.IsNil(ln):
		l.fail(fmt.Errorf("%w: WrapListener got a nil listener (%T)", ErrNotTCP, ln))
	case netconn.IsNil(l.Addr()):
		l.fail(fmt.Errorf("%w: WrapListener got a listener without an address (%T)", ErrNotTCP, ln))
	default:
		if err := checkNetwork(l.Addr().Network()); err != nil {
			l.fail(err)
			break
		}
		filled, err := p.withSystem(p.rounded(c))
		if err != nil {
			l.fail(err)
		}
		l.cfg, l.plain = filled, plainListener(ln)
	}
	return l
}

// Listener is the net.Listener returned by Config.Listen and
// Config.WrapListener.
type Listener struct {
	ln      net.Listener
	cfg     Config // validated and rounded
	set     bool   // set cfg on each accepted connection (it does not inherit it)
	plain   bool   // its connections are plain TCP: no Multipath TCP check
	err     atomic.Pointer[error]
	onError atomic.Pointer[func(net.Conn, error)]
	dropped atomic.Uint64
}

// fail makes every Accept return err from now on.
func (l *Listener) fail(err error) { l.err.CompareAndSwap(nil, &err) }

// Accept waits for the next connection and returns it with the Config
// applied. A connection the Config cannot be applied to is closed and
// reported, and Accept waits for the next one.
func (l *Listener) Accept() (net.Conn, error) {
	if netconn.IsNil(l.ln) { // a zero Listener
		return nil, fmt.Errorf("%w: a Listener not made by Listen or WrapListener", ErrNotTCP)
	}
	for {
		if err := l.err.Load(); err != nil {
			return nil, *err
		}
		conn, err := l.ln.Accept()
		if err != nil || !l.set {
			return conn, err
		}
		err = applyConn(conn, l.cfg, l.plain)
		if err == nil {
			return conn, nil
		}
		if errors.Is(err, ErrNotTCP) {
			// Every connection from ln will be the same: say so once.
			conn.Close()
			l.fail(fmt.Errorf("keepalive: Listener: %w (put WrapListener innermost, around the *net.TCPListener)", err))
			continue
		}
		l.dropped.Add(1)
		if f := l.onError.Load(); f != nil {
			(*f)(conn, err)
		} else {
			log.Printf("keepalive: closing connection from %v: %v", conn.RemoteAddr(), err)
		}
		conn.Close()
	}
}

// OnError sets f to be called, from Accept's goroutine, with each accepted
// connection the Config could not be applied to, and the error; the
// connection is closed when f returns. Without it, each such failure is
// written to the standard logger. Safe to call while Accept runs.
func (l *Listener) OnError(f func(conn net.Conn, err error)) {
	if f == nil {
		l.onError.Store(nil)
		return
	}
	l.onError.Store(&f)
}

// Dropped returns how many accepted connections were closed because the
// Config could not be applied to them.
func (l *Listener) Dropped() uint64 { return l.dropped.Load() }

// Close closes the underlying listener.
func (l *Listener) Close() error {
	if netconn.IsNil(l.ln) {
		return nil
	}
	return l.ln.Close()
}

// Addr returns the underlying listener's address (nil if there is none).
func (l *Listener) Addr() (a net.Addr) {
	if netconn.IsNil(l.ln) {
		return nil
	}
	defer func() {
		if recover() != nil { // a typed-nil listener inside a wrapper
			a = nil
		}
	}()
	return l.ln.Addr()
}

// plainListener reports whether ln's socket is plain TCP, whose accepted
// connections are too (a Multipath TCP listener's are Multipath TCP or, for
// plain TCP clients, plain TCP).
func plainListener(ln net.Listener) bool {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	plain := false
	if rc.Control(func(fd uintptr) { plain = !multipathFD(fd) }) != nil {
		return false
	}
	return plain
}

func isTCP(network string) bool {
	return network == "tcp" || network == "tcp4" || network == "tcp6"
}

func checkNetwork(network string) error {
	if isTCP(network) {
		return nil
	}
	return fmt.Errorf("%w: network %q", ErrNotTCP, network)
}
