// Package netconn holds what the keepalive packages share about a
// net.Conn: the walk down its NetConn chain, nil checks that do not panic,
// and the close hook's wrappers, so that heartbeat can close a connection
// hard through them.
package netconn

import (
	"net"
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
// closed: wrapper is the connection the caller holds, conn the one under it.
type Ender interface {
	End(wrapper, conn net.Conn)
}

// Hook returns conn with a Close that calls e.End once first. A
// *net.TCPConn keeps every method of its own.
func Hook[E Ender](conn net.Conn, e E) net.Conn {
	if tc, ok := conn.(*net.TCPConn); ok {
		return &hookedTCP[E]{TCPConn: tc, e: e}
	}
	return &hooked[E]{Conn: conn, e: e}
}

// ender is the hook wrappers' own method set, for CloseHard.
type ender interface {
	net.Conn
	end()
}

// hookedTCP embeds the *net.TCPConn, so that every method the standard
// library looks for (io.ReaderFrom, io.WriterTo, CloseRead, CloseWrite,
// syscall.Conn) is still there.
type hookedTCP[E Ender] struct {
	*net.TCPConn
	e    E
	once sync.Once
}

// Close reports once, then closes, even if End panics.
func (c *hookedTCP[E]) Close() (err error) {
	defer func() { err = c.TCPConn.Close() }()
	c.end()
	return nil
}

func (c *hookedTCP[E]) end() { c.once.Do(func() { c.e.End(c, c.TCPConn) }) }

// NetConn returns the *net.TCPConn under c, as *tls.Conn does.
func (c *hookedTCP[E]) NetConn() net.Conn { return c.TCPConn }

type hooked[E Ender] struct {
	net.Conn
	e    E
	once sync.Once
}

func (c *hooked[E]) Close() (err error) {
	defer func() { err = c.Conn.Close() }()
	c.end()
	return nil
}

func (c *hooked[E]) end() { c.once.Do(func() { c.e.End(c, c.Conn) }) }

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
