// Package netconn holds what the keepalive packages share about a
// net.Conn: the walk down its NetConn chain, nil checks that do not panic,
// and the close hook's wrappers, so that heartbeat can close a connection
// hard through them.
package netconn

import (
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"sync"
)

// Depth bounds a walk down a NetConn chain: wrappers pointing at each other
// must not hang it.
const Depth = 16

// IsNil reports whether v is nil or a typed nil pointer, which would make a
// method call panic.
func IsNil(v any) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return r.IsNil()
	}
	return false
}

// Inner is conn.NetConn(), or nil where conn has no NetConn method or is a
// wrapper around a nil connection (struct{ *tls.Conn }{}), whose NetConn
// panics.
func Inner(conn net.Conn) (c net.Conn) {
	w, ok := conn.(interface{ NetConn() net.Conn })
	if !ok {
		return nil
	}
	defer func() {
		if recover() != nil {
			c = nil
		}
	}()
	return w.NetConn()
}

// LocalAddr is conn.LocalAddr(), or nil where a wrapper around a nil
// connection panics.
func LocalAddr(conn net.Conn) (a net.Addr) {
	defer func() {
		if recover() != nil {
			a = nil
		}
	}()
	return conn.LocalAddr()
}

// Ender is what a hooked connection calls once, before its descriptor is
// closed: wrapper is the connection the caller holds, conn the one under it,
// seen what the wrapper's calls saw.
type Ender interface {
	End(wrapper, conn net.Conn, seen Seen)
}

// Seen is what a hooked connection's calls saw before it was closed.
type Seen struct {
	// Err is the first error a Read or Write returned other than io.EOF,
	// a deadline or net.ErrClosed.
	Err error
	// ClosedWrite is whether CloseWrite succeeded.
	ClosedWrite bool
	// Unattributed is whether a ReadFrom or WriteTo failed: its error may
	// be this connection's or the other end's, so Err may miss one.
	Unattributed bool
}

// seen records a Seen; its lock is taken only on failures and CloseWrite.
type seen struct {
	mu sync.Mutex
	s  Seen
}

// note records err if it is the first that counts, and returns it.
func (r *seen) note(err error) error {
	if err != nil {
		r.err(err)
	}
	return err
}

func (r *seen) err(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
		return
	}
	r.mu.Lock()
	if r.s.Err == nil {
		r.s.Err = err
	}
	r.mu.Unlock()
}

func (r *seen) set(closedWrite, unattributed bool) {
	r.mu.Lock()
	r.s.ClosedWrite = r.s.ClosedWrite || closedWrite
	r.s.Unattributed = r.s.Unattributed || unattributed
	r.mu.Unlock()
}

func (r *seen) get() Seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.s
}

// Hook returns conn with a Close that calls e.End once first. A
// *net.TCPConn keeps every method of its own.
func Hook[E Ender](conn net.Conn, e E) net.Conn {
	if tc, ok := conn.(*net.TCPConn); ok {
		return &hookedTCP[E]{TCPConn: tc, hook: hook[E]{e: e}}
	}
	return &hooked[E]{Conn: conn, hook: hook[E]{e: e}}
}

// ender is the hook wrappers' own method set, for CloseHard.
type ender interface {
	net.Conn
	end()
}

// hook is what both wrappers keep: the Ender, called once, and what the
// calls saw.
type hook[E Ender] struct {
	e    E
	once sync.Once
	seen seen
}

func (h *hook[E]) report(wrapper, conn net.Conn) {
	h.once.Do(func() { h.e.End(wrapper, conn, h.seen.get()) })
}

// hookedTCP embeds the *net.TCPConn, so that every method the standard
// library looks for (io.ReaderFrom, io.WriterTo, CloseRead, CloseWrite,
// syscall.Conn) is still there.
type hookedTCP[E Ender] struct {
	*net.TCPConn
	hook[E]
}

func (c *hookedTCP[E]) Read(b []byte) (int, error) {
	n, err := c.TCPConn.Read(b)
	return n, c.seen.note(err)
}

func (c *hookedTCP[E]) Write(b []byte) (int, error) {
	n, err := c.TCPConn.Write(b)
	return n, c.seen.note(err)
}

// ReadFrom and WriteTo pass the other end on as it is, so that the
// *net.TCPConn still splices and sends files.
func (c *hookedTCP[E]) ReadFrom(r io.Reader) (int64, error) {
	n, err := c.TCPConn.ReadFrom(r)
	if err != nil {
		c.seen.set(false, true)
	}
	return n, err
}

func (c *hookedTCP[E]) WriteTo(w io.Writer) (int64, error) {
	n, err := c.TCPConn.WriteTo(w)
	if err != nil {
		c.seen.set(false, true)
	}
	return n, err
}

func (c *hookedTCP[E]) CloseWrite() error {
	err := c.TCPConn.CloseWrite()
	if err == nil {
		c.seen.set(true, false)
	}
	return err
}

// Close reports once, then closes, even if End panics.
func (c *hookedTCP[E]) Close() (err error) {
	defer func() { err = c.TCPConn.Close() }()
	c.end()
	return nil
}

func (c *hookedTCP[E]) end() { c.report(c, c.TCPConn) }

// NetConn returns the *net.TCPConn under c, as *tls.Conn does.
func (c *hookedTCP[E]) NetConn() net.Conn { return c.TCPConn }

type hooked[E Ender] struct {
	net.Conn
	hook[E]
}

func (c *hooked[E]) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	return n, c.seen.note(err)
}

func (c *hooked[E]) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	return n, c.seen.note(err)
}

func (c *hooked[E]) Close() (err error) {
	defer func() { err = c.Conn.Close() }()
	c.end()
	return nil
}

func (c *hooked[E]) end() { c.report(c, c.Conn) }

// NetConn returns the connection under c.
func (c *hooked[E]) NetConn() net.Conn { return c.Conn }

// CloseHard closes conn so that every blocked Read and Write returns at
// once and no byte waits on a dead peer: the first hook on the way down
// reports first, the *net.TCPConn at the bottom closes with SO_LINGER 0 (an
// RST, unsent data dropped) before any layer above it (a TLS close_notify)
// can write, and then conn closes. A panic in a hook's End is recovered
// and returned.
func CloseHard(conn net.Conn) (panicked any) {
	var hook ender
	c := conn
	for range Depth {
		if h, ok := c.(ender); ok && hook == nil {
			hook = h
		}
		if tc, ok := c.(*net.TCPConn); ok && tc != nil {
			if hook != nil {
				panicked = safeEnd(hook)
			}
			tc.SetLinger(0)
			tc.Close()
			break
		}
		if c = Inner(c); IsNil(c) {
			break
		}
	}
	if IsNil(conn) {
		return panicked
	}
	func() {
		defer func() {
			if p := recover(); p != nil && panicked == nil {
				panicked = p
			}
		}()
		conn.Close()
	}()
	return panicked
}

func safeEnd(h ender) (panicked any) {
	defer func() { panicked = recover() }()
	h.end()
	return nil
}
