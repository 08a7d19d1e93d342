package keepalivetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/keepalive-go/keepalive/internal/netconn"
)

// A Listener is a TCP listener whose connections the test can make fail.
// It keeps every connection it accepted, so a test can fail connections
// that the code under test dialed itself, such as a driver's pool.
type Listener struct {
	ln     net.Listener
	target func(ctx context.Context) (net.Conn, error) // a Proxy's server; nil otherwise

	mu      sync.Mutex
	conns   []*Conn
	next    []Fault
	closed  bool
	dialErr error          // a Proxy's first failure to reach the server
	wg      sync.WaitGroup // a Proxy's goroutines
}

var errZero = errors.New("keepalivetest: a nil or zero Listener or Conn (make them with NewListener or Proxy)")

// NewListener wraps ln, a TCP listener, so that the connections it
// accepts are Conns. Closing the Listener closes ln and every Conn.
func NewListener(ln net.Listener) (*Listener, error) {
	if netconn.IsNil(ln) || netconn.IsNil(ln.Addr()) {
		return nil, errors.New("keepalivetest: NewListener: nil listener")
	}
	if _, ok := ln.Addr().(*net.TCPAddr); !ok {
		return nil, fmt.Errorf("keepalivetest: NewListener: %T listens on %s %v, not TCP", ln, ln.Addr().Network(), ln.Addr())
	}
	return &Listener{ln: ln}, nil
}

// Proxy listens on a free loopback port and relays each connection to the
// server at network and address ("tcp", "127.0.0.1:5432"; or "unix" and a
// socket path), so that the test can make the server look dead to its
// clients while new connections still work. Accept is the Proxy's own.
func Proxy(network, address string) (*Listener, error) {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, fmt.Errorf("keepalivetest: Proxy: network %q: want tcp, tcp4, tcp6 or unix", network)
	}
	if address == "" {
		return nil, errors.New("keepalivetest: Proxy: empty address")
	}
	if network == "unix" {
		if _, err := os.Stat(address); err != nil {
			return nil, fmt.Errorf("keepalivetest: Proxy: %w", err)
		}
	} else if _, err := net.ResolveTCPAddr(network, address); err != nil {
		return nil, fmt.Errorf("keepalivetest: Proxy: %w", err)
	}
	listen := "127.0.0.1:0"
	if host, _, err := net.SplitHostPort(address); err == nil && network != "unix" {
		if ip := net.ParseIP(host); ip != nil && ip.To4() == nil || network == "tcp6" {
			listen = "[::1]:0"
		}
	}
	// Plain TCP, no keepalive of its own: a dead host sends nothing, and
	// a socket filter stops nothing on a Multipath TCP socket's subflows.
	lc := net.ListenConfig{KeepAlive: -1}
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("keepalivetest: Proxy: %w", err)
	}
	d := net.Dialer{KeepAlive: -1, Timeout: 5 * time.Second}
	l := &Listener{ln: ln, target: func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, network, address) }}
	l.wg.Add(1)
	go l.serve()
	return l, nil
}

// Accept waits for the next connection and returns it as a *Conn. The
// Fault of a FailNext still pending is applied to it first.
func (l *Listener) Accept() (net.Conn, error) {
	if l == nil || l.ln == nil {
		return nil, errZero
	}
	if l.target != nil {
		return nil, errors.New("keepalivetest: Accept on a Proxy: it accepts by itself")
	}
	return l.accept()
}

func (l *Listener) accept() (*Conn, error) {
	c, err := l.ln.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("keepalivetest: accepted a %T, not a *net.TCPConn", c)
	}
	conn := &Conn{tcp: tc, stop: make(chan struct{}), done: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		tc.Close()
		return nil, net.ErrClosed
	}
	l.conns = append(l.conns, conn)
	var f Fault
	if len(l.next) > 0 {
		f, l.next = l.next[0], l.next[1:]
	}
	l.mu.Unlock()
	if f != 0 {
		if err := conn.Fail(f); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

// Addr is the address to dial.
func (l *Listener) Addr() net.Addr {
	if l == nil || l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}

// Close stops listening and closes every connection accepted, ending the
// child processes of Held ones. For a Proxy it returns the first error met
// reaching the server, if any: its clients got EOF then.
func (l *Listener) Close() error {
	if l == nil || l.ln == nil {
		return errZero
	}
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.mu.Unlock()
	err := l.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(err, l.dialErr)
}

// Conns returns the connections accepted so far, oldest first.
func (l *Listener) Conns() []*Conn {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Conn(nil), l.conns...)
}

// FailNext makes the next connection accepted fail with f as it arrives;
// called twice, the next two.
func (l *Listener) FailNext(f Fault) error {
	if l == nil || l.ln == nil {
		return errZero
	}
	if err := f.check(); err != nil {
		return err
	}
	if err := supported(f); err != nil {
		return fmt.Errorf("keepalivetest: FailNext(%v): %w", f, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next = append(l.next, f)
	return nil
}

// FailAll makes every connection accepted so far and still open fail
// with f. Later connections work, as after a failover.
func (l *Listener) FailAll(f Fault) error {
	if l == nil || l.ln == nil {
		return errZero
	}
	if err := f.check(); err != nil {
		return err
	}
	var errs []error
	for _, c := range l.Conns() {
		if c.isClosed() {
			continue
		}
		errs = append(errs, c.Fail(f))
	}
	return errors.Join(errs...)
}

// serve is a Proxy's accept loop.
func (l *Listener) serve() {
	defer l.wg.Done()
	for {
		c, err := l.accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := l.target(ctx)
		cancel()
		if err != nil {
			l.mu.Lock()
			if l.dialErr == nil {
				l.dialErr = fmt.Errorf("keepalivetest: Proxy: reaching the server: %w", err)
			}
			l.mu.Unlock()
			c.Close()
			continue
		}
		c.mu.Lock()
		c.server = s
		c.mu.Unlock()
		if c.isClosed() {
			s.Close()
			continue
		}
		l.wg.Add(2)
		go func() {
			defer l.wg.Done()
			io.Copy(s, c)
			if cw, ok := s.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
		go func() {
			defer l.wg.Done()
			// Through Write: a failed Conn takes no more.
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					c.closeWrite() // the server's FIN
					return
				}
			}
		}()
	}
}

// A Conn is the peer's end of a connection a Listener accepted. Its Read
// and Write are the peer application's: once it has failed, they block
// until Close, as a dead application's would.
type Conn struct {
	tcp *net.TCPConn

	mu     sync.Mutex
	fault  Fault
	server net.Conn  // a Proxy's connection to the server
	holder *exec.Cmd // Held: the child process that holds the socket
	stop   chan struct{}
	done   chan struct{}
	closed bool
	wmu    sync.Mutex // held through each Write
}

// Fail makes c die as f says. The other end is not told (except by
// Reset's RST). Fail on a Conn that has failed already or is closed
// returns an error.
func (c *Conn) Fail(f Fault) error {
	if c == nil || c.tcp == nil {
		return errors.New("keepalivetest: Fail on a nil *Conn")
	}
	if err := f.check(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("keepalivetest: Fail(%v): %w", f, net.ErrClosed)
	}
	if c.fault != 0 {
		return fmt.Errorf("keepalivetest: Fail(%v): the connection is %v already", f, c.fault)
	}
	if f == Silent || f == Held {
		if err := supported(f); err != nil {
			return err
		}
	}
	c.fault = f
	close(c.stop)
	// Wake a Read or Write in progress; they see stop and block.
	now := time.Now()
	c.tcp.SetDeadline(now)
	c.wmu.Lock()
	//lint:ignore SA2001 waits for a Write in progress to end
	c.wmu.Unlock()
	if c.server != nil && f != Hung {
		c.server.Close() // the server's side of a dead peer is gone
	}
	var err error
	switch f {
	case Silent:
		err = silenceQuiet(c.tcp)
	case Reset:
		c.tcp.SetLinger(0)
		err = c.tcp.Close()
	case Hung:
	case Held:
		c.holder, err = hold(c.tcp)
	}
	if err != nil {
		return fmt.Errorf("keepalivetest: Fail(%v): %w", f, err)
	}
	return nil
}

// Fault returns how c failed, or 0.
func (c *Conn) Fault() Fault {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fault
}

func (c *Conn) Read(b []byte) (int, error) {
	if c == nil || c.tcp == nil {
		return 0, errZero
	}
	select {
	case <-c.stop:
		<-c.done
		return 0, net.ErrClosed
	default:
	}
	n, err := c.tcp.Read(b)
	select {
	case <-c.stop: // what came after the fault is not the application's
		<-c.done
		return 0, net.ErrClosed
	default:
	}
	return n, err
}

func (c *Conn) Write(b []byte) (int, error) {
	if c == nil || c.tcp == nil {
		return 0, errZero
	}
	c.wmu.Lock()
	select {
	case <-c.stop:
		c.wmu.Unlock()
		<-c.done
		return 0, net.ErrClosed
	default:
	}
	n, err := c.tcp.Write(b)
	c.wmu.Unlock()
	return n, err
}

func (c *Conn) closeWrite() {
	select {
	case <-c.stop:
	default:
		c.tcp.CloseWrite()
	}
}

func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close closes the connection, which sends a FIN even after Silent, and
// ends a Held one's child process.
func (c *Conn) Close() error {
	if c == nil || c.tcp == nil {
		return errZero
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	holder, server := c.holder, c.server
	c.mu.Unlock()
	err := c.tcp.Close()
	if server != nil {
		server.Close()
	}
	if holder != nil {
		holder.Process.Kill()
		holder.Wait()
	}
	if c.Fault() == Reset || c.Fault() == Held {
		return nil // closed by the fault already
	}
	return err
}

// LocalAddr is the peer's address.
func (c *Conn) LocalAddr() net.Addr {
	if c == nil || c.tcp == nil {
		return nil
	}
	return c.tcp.LocalAddr()
}

// RemoteAddr is the address of the other end, the code under test.
func (c *Conn) RemoteAddr() net.Addr {
	if c == nil || c.tcp == nil {
		return nil
	}
	return c.tcp.RemoteAddr()
}

func (c *Conn) SetDeadline(t time.Time) error {
	if c == nil || c.tcp == nil {
		return errZero
	}
	return c.tcp.SetDeadline(t)
}

func (c *Conn) SetReadDeadline(t time.Time) error {
	if c == nil || c.tcp == nil {
		return errZero
	}
	return c.tcp.SetReadDeadline(t)
}

func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c == nil || c.tcp == nil {
		return errZero
	}
	return c.tcp.SetWriteDeadline(t)
}

// SyscallConn is the socket's, for keepalive.StatusOf and the like.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if c == nil || c.tcp == nil {
		return nil, errZero
	}
	return c.tcp.SyscallConn()
}
