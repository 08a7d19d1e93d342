package keepalive

import (
	"context"
	"net"

	"github.com/keepalive-go/keepalive/internal/netconn"
)

// OnEnd receives the cause of a connection's end, and the Status it was
// decided from, just before its descriptor is closed. It runs on the
// goroutine that calls Close first; another Close waits for it. It must not
// call Close.
type OnEnd func(conn net.Conn, cause Cause, st Status)

// WatchConn returns conn with a Close that first passes CauseOf(conn, err)
// to f, once, for drivers and servers that close connections themselves:
// err is the first error a Read or Write returned (not io.EOF or a
// deadline), and a CloseWrite counts too. A
// *net.TCPConn keeps every method of its own (sendfile and splice through
// ReadFrom and WriteTo, CloseRead, CloseWrite, SyscallConn) and NetConn
// returns it; wrap it before TLS. Other connections keep only the net.Conn
// methods and NetConn. A connection never closed is never reported. A nil f
// returns conn as it is.
func WatchConn(conn net.Conn, f OnEnd) net.Conn {
	if f == nil || netconn.IsNil(conn) {
		return conn
	}
	return netconn.Hook(conn, ender(f))
}

// WatchDial returns dial with each connection it makes passed through
// WatchConn: the shape of net.Dialer.DialContext, pgx's DialFunc, go-redis'
// Dialer and http.Transport.DialContext.
func WatchDial(dial func(ctx context.Context, network, address string) (net.Conn, error), f OnEnd) func(ctx context.Context, network, address string) (net.Conn, error) {
	if dial == nil || f == nil {
		return dial
	}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := dial(ctx, network, address)
		if err != nil {
			return conn, err
		}
		return WatchConn(conn, f), nil
	}
}

// WatchListener returns ln with each connection it accepts passed through
// WatchConn. The result is a net.Listener only: it hides a
// *net.TCPListener's other methods.
func WatchListener(ln net.Listener, f OnEnd) net.Listener {
	if f == nil || netconn.IsNil(ln) {
		return ln
	}
	return &watchedListener{Listener: ln, f: f}
}

type watchedListener struct {
	net.Listener
	f OnEnd
}

func (l *watchedListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return conn, err
	}
	return WatchConn(conn, l.f), nil
}

// ender reports a hooked connection's end to an OnEnd.
type ender OnEnd

// End passes f the wrapper the driver knows, and the cause read from the
// connection under it and what the wrapper's calls saw.
func (f ender) End(wrapper, conn net.Conn, s netconn.Seen) {
	cause, st, _ := causeOf(conn, seen{err: s.Err, closedWrite: s.ClosedWrite && !s.Unattributed}) // an error leaves CauseUnknown
	f(wrapper, cause, st)
}
