package keepalive

import (
	"context"
	"fmt"
	"log"
	"net"
	"sync/atomic"
	"syscall"
)

// Dialer returns a copy of base (a zero net.Dialer if base is nil) whose TCP
// connections get c, set on the socket before it connects.
//
// The copy's KeepAlive is -1 and its KeepAliveConfig zero, so Go's net
// package does not overwrite c with its own settings after the hook (it
// would otherwise apply 15 s, 15 s, 9). A Control or ControlContext already
// on base still runs, first; c is applied after it, so c wins for the
// options it sets. An invalid c makes every TCP dial fail with the
// Validate error; UDP and unix dials are left alone.
//
// On Linux, Multipath TCP sockets refuse TCP_USER_TIMEOUT. So when
// c.UserTimeout is set and base has Multipath TCP enabled
// (SetMultipathTCP(true)), the copy dials plain TCP, and its
// MultipathTCP() says so. (Go would otherwise fall back to plain TCP itself
// after the hook refused the Multipath socket, at the cost of a wasted socket
// and a second run of base's hook.) Control used on a Multipath TCP socket
// directly returns an error wrapping errors.ErrUnsupported.
func (c Config) Dialer(base *net.Dialer) *net.Dialer {
	var d net.Dialer
	if base != nil {
		d = *base
	}
	d.KeepAlive = -1
	d.KeepAliveConfig = net.KeepAliveConfig{}
	if c.UserTimeout > 0 && d.MultipathTCP() {
		d.SetMultipathTCP(false)
	}
	switch user, userCtx := d.Control, d.ControlContext; {
	case userCtx != nil: // net.Dialer ignores Control when ControlContext is set
		d.ControlContext = func(ctx context.Context, network, address string, rc syscall.RawConn) error {
			if err := userCtx(ctx, network, address, rc); err != nil {
				return err
			}
			return c.Control(network, address, rc)
		}
	case user != nil:
		d.Control = func(network, address string, rc syscall.RawConn) error {
			if err := user(network, address, rc); err != nil {
				return err
			}
			return c.Control(network, address, rc)
		}
	default:
		d.Control = c.Control
	}
	return &d
}

// Dial connects to address on a TCP network ("tcp", "tcp4", "tcp6") with c
// set on the connection, as c.Dialer(nil).DialContext would. c is validated
// before anything else happens; other networks fail with ErrNotTCP.
func (c Config) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c.Dialer(nil).DialContext(ctx, network, address)
}

// Listen announces on a TCP network ("tcp", "tcp4", "tcp6") and returns a
// *Listener that applies c to every accepted connection (see WrapListener).
// c is validated before anything else happens.
//
// Go's accepted-connection keepalive is turned off (KeepAlive -1), so each
// accepted connection gets exactly one setsockopt per option c sets, on
// every OS, whether or not it would inherit them from the listener (macOS
// does not inherit the idle time or TCP_RXT_CONNDROPTIME). On
// Linux, Go listens with Multipath TCP by default, whose connections cannot
// hold TCP_USER_TIMEOUT; so when c.UserTimeout is set, Listen uses a plain
// TCP listener, and otherwise keeps Go's default.
func (c Config) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	lc := net.ListenConfig{KeepAlive: -1}
	if c.UserTimeout > 0 {
		lc.SetMultipathTCP(false)
	}
	ln, err := lc.Listen(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return c.WrapListener(ln), nil
}

// WrapListener returns a *Listener that applies c to every connection ln
// accepts. If applying fails for one connection (it was reset already, or it
// is a Multipath TCP connection that refuses UserTimeout), that connection
// is closed, the failure is reported (see Listener.OnError) and Accept goes
// on to the next one: one bad connection never stops a server.
//
// If c is invalid, or ln is not a TCP listener, Accept returns that error
// without accepting anything, so a server on it stops at once and says why.
// If ln comes from a net.ListenConfig, give it KeepAlive: -1; otherwise Go
// sets its own keepalive values on each connection first, only for c to
// replace them.
//
// On Linux, with c.UserTimeout set, ln should be plain TCP
// (net.ListenConfig.SetMultipathTCP(false), as Listen does): on Go's default
// Multipath TCP listener every client that speaks Multipath TCP is dropped,
// since its connection refuses TCP_USER_TIMEOUT. Clients that speak plain TCP
// are served either way.
func (c Config) WrapListener(ln net.Listener) net.Listener {
	l := &Listener{ln: ln, cfg: c.Rounded(), err: c.Validate()}
	switch {
	case l.err != nil:
	case ln == nil:
		l.err = fmt.Errorf("%w: WrapListener got a nil listener", ErrNotTCP)
	default:
		l.err = checkNetwork(ln.Addr().Network())
	}
	return l
}

// Listener is the net.Listener returned by Config.Listen and
// Config.WrapListener.
type Listener struct {
	ln      net.Listener
	cfg     Config // validated and rounded
	err     error  // why nothing can be accepted, if anything
	onError atomic.Pointer[func(net.Conn, error)]
	dropped atomic.Uint64
}

// Accept waits for the next connection and returns it with the Config
// applied. A connection the Config cannot be applied to is closed and
// reported, and Accept waits for the next one.
func (l *Listener) Accept() (net.Conn, error) {
	if l.err != nil {
		return nil, l.err
	}
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return nil, err
		}
		err = applyConn(conn, l.cfg)
		if err == nil {
			return conn, nil
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
	if l.ln == nil {
		return nil
	}
	return l.ln.Close()
}

// Addr returns the underlying listener's address (nil if there is none).
func (l *Listener) Addr() net.Addr {
	if l.ln == nil {
		return nil
	}
	return l.ln.Addr()
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
