package keepalive

import (
	"fmt"
	"net"
	"sync"
	"syscall"
)

// Apply sets c on an existing TCP connection: SO_KEEPALIVE on, and one
// setsockopt for each non-zero field. c is validated first, so an invalid
// Config changes nothing. conn may wrap a TCP connection: Apply looks through
// *tls.Conn and any conn with a NetConn() net.Conn method.
//
// Other connections (UDP, unix sockets) fail with ErrNotTCP; a closed one
// with an error satisfying errors.Is(err, net.ErrClosed). A socket that
// refuses the user-timeout option (a Linux Multipath TCP connection; FreeBSD
// before 14) fails with an error wrapping errors.ErrUnsupported before
// anything else is changed. A field the OS cannot set per connection is
// refused by Validate (see the package's platform table); on js, wasip1 and
// plan9 every call fails with errors.ErrUnsupported.
func (c Config) Apply(conn net.Conn) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return applyConn(conn, c.Rounded())
}

// applyConn sets c, already validated and rounded, on the TCP connection
// under conn. SyscallConn and Control stay in this one function so the
// compiler devirtualizes Control and keeps the RawConn off the heap.
func applyConn(conn net.Conn, c Config) error {
	tc, err := tcpConn(conn)
	if err != nil {
		return err
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return fmt.Errorf("keepalive: %w", err)
	}
	a := getApplier(c)
	return a.done(rc.Control(a.fn))
}

// Inspect returns the keepalive values the kernel holds for conn now. Where
// the connection never set an option, the kernel reports the system value in
// effect, so every field is filled in (illumos reports 0 for an Interval and
// Count never set: it then probes with backoff); UserTimeout zero means off.
// On OpenBSD, which has no per-socket values, it returns the system's. NetBSD
// and Windows before 10 1709 cannot read the values back: Inspect returns an
// error wrapping errors.ErrUnsupported there. If
// SO_KEEPALIVE is off the values are returned with an error satisfying
// errors.Is(err, ErrDisabled): the kernel will not probe the connection.
// conn may wrap a TCP connection, as for Apply.
func Inspect(conn net.Conn) (Config, error) {
	tc, err := tcpConn(conn)
	if err != nil {
		return Config{}, err
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return Config{}, fmt.Errorf("keepalive: %w", err)
	}
	// rc is concrete here, so the closure and r stay on the stack.
	var r inspection
	return r.result(rc.Control(func(fd uintptr) { r.c, r.enabled, r.err = getOptions(fd) }))
}

// InspectRawConn is Inspect for a TCP socket that is not a net.Conn, such
// as an *os.File's (f.SyscallConn()) holding a socket duplicated from
// another process. It behaves as Inspect does on each OS (the system's
// values on OpenBSD, errors.ErrUnsupported on NetBSD and Windows before
// 10 1709). The caller must know that the socket is TCP: for another kind
// of socket the kernel's getsockopt error is returned (on Linux one
// wrapping errors.ErrUnsupported), not ErrNotTCP.
func InspectRawConn(rc syscall.RawConn) (Config, error) {
	var r inspection
	return r.result(rc.Control(func(fd uintptr) { r.c, r.enabled, r.err = getOptions(fd) }))
}

// inspection is what getOptions read; result adds what RawConn.Control
// returned (cerr) and turns SO_KEEPALIVE off into ErrDisabled.
type inspection struct {
	c       Config
	enabled bool
	err     error
}

func (r *inspection) result(cerr error) (Config, error) {
	switch {
	case cerr != nil:
		return Config{}, fmt.Errorf("keepalive: %w", cerr)
	case r.err != nil:
		return Config{}, r.err
	case !r.enabled:
		return r.c, ErrDisabled
	}
	return r.c, nil
}

// Control sets c on a new socket. It has the signature of net.Dialer.Control
// and net.ListenConfig.Control and does nothing for networks other than
// "tcp", "tcp4" and "tcp6", so one Dialer can still dial UDP and unix
// sockets.
//
// Used directly it is not enough: after the hook, Go's net package applies
// its own keepalive settings (15 s, 15 s, 9) to every dialed and accepted
// connection unless KeepAlive is negative and KeepAliveConfig.Enable false.
// Use Dialer, Dial or Listen, which take care of that, or set KeepAlive: -1
// (and leave KeepAliveConfig zero) yourself.
func (c Config) Control(network, address string, rc syscall.RawConn) error {
	if !isTCP(network) {
		return nil
	}
	if err := c.Validate(); err != nil {
		return err
	}
	a := getApplier(c.Rounded())
	return a.done(rc.Control(a.fn))
}

// tcpConn finds the *net.TCPConn under conn.
func tcpConn(conn net.Conn) (*net.TCPConn, error) {
	for range 16 { // wrappers pointing at each other must not hang us
		if tc, ok := conn.(*net.TCPConn); ok {
			return tc, nil
		}
		w, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		conn = w.NetConn()
	}
	return nil, fmt.Errorf("%w: %T", ErrNotTCP, conn)
}

// applier carries a Config into RawConn.Control. The callback is bound once
// per pooled applier, so applying costs no heap allocation per connection.
type applier struct {
	cfg Config
	err error
	fn  func(fd uintptr)
}

var appliers = sync.Pool{New: func() any {
	a := new(applier)
	a.fn = a.run
	return a
}}

func (a *applier) run(fd uintptr) { a.err = setOptions(fd, a.cfg) }

func getApplier(c Config) *applier {
	a := appliers.Get().(*applier)
	a.cfg = c
	return a
}

// done returns a to the pool and reports how applying went; cerr is what
// RawConn.Control returned.
func (a *applier) done(cerr error) error {
	err := a.err
	a.err = nil
	appliers.Put(a)
	if cerr != nil {
		// The callback never ran: typically the connection is closed
		// (errors.Is(err, net.ErrClosed) holds).
		return fmt.Errorf("keepalive: %w", cerr)
	}
	return err
}
