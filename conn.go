package keepalive

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Apply sets c on an existing TCP connection: SO_KEEPALIVE on and every
// keepalive value, a zero field to the system's value, so the connection
// behaves as c.Detection(ReadSystem()) says whatever it held before. A zero
// field costs a read of the system's values at each call; where they cannot
// be read (illumos, Solaris, AIX) zero fields are left as they are, and so
// is the connection's user timeout when c.UserTimeout is zero. c is
// validated first, so an invalid Config changes nothing. conn may wrap a
// TCP connection: Apply looks through NetConn() and SyscallConn(). Other
// connections fail with ErrNotTCP, closed ones with net.ErrClosed, and a
// Multipath TCP one with ErrMultipathTCP, before anything changes.
func (c Config) Apply(conn net.Conn) error {
	p := host()
	if err := p.validate(c); err != nil {
		return err
	}
	c, err := p.withSystem(p.rounded(c))
	if err != nil {
		return err
	}
	return applyConn(conn, c, false)
}

// withSystem fills c's zero keepalive fields with the system's values, so
// a connection that held other values (Go's 15 s, 15 s, 9) ends up as a new
// socket would. Where the system's values cannot be read (ReadSystem is
// unsupported) or set per socket, c is returned as it is.
func (p *platform) withSystem(c Config) (Config, error) {
	if p == nil || p.idle.name == "" || c.Idle != 0 && c.Interval != 0 && (c.Count != 0 || p.count.name == "") {
		return c, nil
	}
	sys, err := readSystem()
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return c, nil
	case err != nil:
		return c, err
	}
	d := p.rounded(Config{Idle: sys.Idle, Interval: sys.Interval})
	if p.count.name != "" {
		d.Count = sys.Count
	}
	filled := c.withDefaults(d)
	if err := p.validate(filled); err != nil {
		return c, fmt.Errorf("keepalive: the system's keepalive values %+v cannot be set per connection; set every field of the Config: %w", sys, err)
	}
	return filled, nil
}

// applyConn sets c, already validated and rounded, on the TCP connection
// under conn, refusing a Multipath TCP one unless plain says it cannot be
// (one getsockopt saved).
func applyConn(conn net.Conn, c Config, plain bool) error {
	op := fdOp{kind: opApply, cfg: c, plain: plain}
	cerr, err := onConn(conn, &op)
	if cerr != nil {
		return cerr
	}
	return err
}

// Inspect returns the keepalive values the kernel holds for conn now; a
// value the connection never set reads as the system's (on illumos an
// Interval and Count never set read 0). UserTimeout zero means off. If
// SO_KEEPALIVE is off the values come with an error satisfying
// errors.Is(err, ErrDisabled), and on a Linux Multipath TCP connection with
// one satisfying errors.Is(err, ErrMultipathTCP). conn may wrap a TCP
// connection, as for Apply. OpenBSD, which has no per-socket values,
// returns the system's; NetBSD and Windows before 10 1709 cannot read them
// back and fail with errors.ErrUnsupported.
func Inspect(conn net.Conn) (Config, error) {
	var r inspection
	op := fdOp{kind: opInspect, insp: &r}
	cerr, _ := onConn(conn, &op) // the error is r.err
	return r.result(cerr)
}

// InspectRawConn is Inspect for a socket that is not a net.Conn, such as an
// *os.File's holding a socket duplicated from another process. A socket
// that is not TCP fails with ErrNotTCP.
func InspectRawConn(rc syscall.RawConn) (Config, error) {
	var r inspection
	op := fdOp{kind: opInspect, insp: &r}
	cerr, _ := onRawConn(rc, &op) // the error is r.err
	return r.result(cerr)
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
		return Config{}, cerr
	case errors.Is(r.err, ErrMultipathTCP):
		return r.c, r.err // the values, and why they bound nothing
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
// sockets. Go's net package overwrites what a Control hook set unless the
// Dialer's or ListenConfig's KeepAlive is -1 (and KeepAliveConfig zero):
// Dialer, Dial and Listen take care of that. A Multipath TCP socket fails
// with ErrMultipathTCP, and Go's Dialer and ListenConfig then retry with
// plain TCP.
func (c Config) Control(network, address string, rc syscall.RawConn) error {
	return c.control(network, rc, false)
}

// controlPlain is Control for a socket its Dialer or ListenConfig makes
// plain TCP: no Multipath TCP check.
func (c Config) controlPlain(network, _ string, rc syscall.RawConn) error {
	return c.control(network, rc, true)
}

func (c Config) control(network string, rc syscall.RawConn, plain bool) error {
	if !isTCP(network) {
		return nil
	}
	if err := c.Validate(); err != nil {
		return err
	}
	op := fdOp{kind: opApply, cfg: c.Rounded(), plain: plain}
	cerr, err := onRawConn(rc, &op)
	if cerr != nil {
		return cerr
	}
	return err
}

// setChecked is setOptions on a socket that is plain TCP, or is first
// checked not to be Multipath TCP.
func setChecked(fd uintptr, c Config, plain bool) error {
	if !plain && multipathFD(fd) {
		return errMultipath
	}
	return setOptions(fd, c)
}
