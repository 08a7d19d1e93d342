package keepalive

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"github.com/keepalive-go/keepalive/internal/netconn"
)

// The one path from a net.Conn or a syscall.RawConn to its descriptor, for
// Apply, Control, Inspect, StatusOf and CauseOf: onConn and onRawConn run
// an fdOp on it without a heap allocation.

// fdOp is one operation on a socket's descriptor: its kind, what it
// takes, and where it writes what it found (the caller's variables, on its
// stack).
type fdOp struct {
	kind       opKind
	plain, ran bool // plain: opApply skips the Multipath TCP check
	src        optionSource
	cfg        Config // opApply: what to set; opStatus: what the socket holds (heldOptions)

	insp *inspection // opInspect
	st   *Status     // opStatus, opCause
	end  *ending     // opCause

	fn  func(fd uintptr) // a pooled fdOp's callback, bound once
	buf *fdBuf           // a pooled fdOp's own results
	err error            // and the error its run returned
}

// ending is what CauseOf reads beyond the Status of an ended connection.
type ending struct {
	soErr syscall.Errno // the pending error
	opts  Config        // the probe count and user timeout in force
}

type fdBuf struct {
	insp inspection
	st   Status
	end  ending
}

type opKind uint8

const (
	opApply opKind = iota
	opInspect
	opStatus
	opCause
)

// run does op on fd and returns its error. (An error kept in op would, to
// escape analysis, carry op's result pointers, and the caller's variables,
// to the heap.)
func (op *fdOp) run(fd uintptr) (err error) {
	op.ran = true
	switch op.kind {
	case opApply:
		err = setChecked(fd, op.cfg, op.plain)
	case opInspect:
		op.insp.c, op.insp.enabled, op.insp.err = getOptions(fd, true)
		err = op.insp.err
	case opStatus:
		err = readStatus(fd, op.st, op.cfg, op.src)
	case opCause:
		if err = readStatus(fd, op.st, Config{}, noOptions); err == nil && op.st.State == StateClosed {
			ended(fd, op.st, &op.end.soErr, &op.end.opts) // decides only between ended causes
		}
	}
	return err
}

// runRaw is run for a socket from a RawConn, which may not be TCP.
func (op *fdOp) runRaw(fd uintptr) error {
	err := op.run(fd)
	if err != nil && !isTCPSocket(fd) {
		err = fmt.Errorf("%w: the socket is not a TCP socket", ErrNotTCP)
		if op.kind == opInspect { // Inspect reads its error from insp
			op.insp.err = err
		}
	}
	return err
}

// onConn runs op on the TCP socket under conn and returns cerr, what kept
// op from running (conn is not TCP, or RawConn.Control failed, typically
// because conn is closed: errors.Is(cerr, net.ErrClosed) holds), or err,
// op's own.
func onConn(conn net.Conn, op *fdOp) (cerr, err error) {
	tc, sc, cerr := socketOf(conn)
	if cerr != nil {
		return cerr, nil
	}
	if tc == nil {
		rc, cerr := sc.SyscallConn()
		if cerr != nil {
			return fmt.Errorf("keepalive: %w", cerr), nil
		}
		return onRawConn(rc, op)
	}
	return onTCP(tc, op)
}

// onTCP is onConn for a *net.TCPConn.
func onTCP(tc *net.TCPConn, op *fdOp) (cerr, err error) {
	rc, cerr := tc.SyscallConn()
	if cerr != nil {
		return fmt.Errorf("keepalive: %w", cerr), nil
	}
	// rc is concrete here, so Control is devirtualized and the closure,
	// and op with it, stay on the caller's stack.
	if cerr := rc.Control(func(fd uintptr) { err = op.run(fd) }); cerr != nil {
		return fmt.Errorf("keepalive: %w", cerr), nil
	}
	return nil, err
}

// onRawConn is onConn for a RawConn. Its Control is an interface call, so
// op's fields go through a pooled fdOp, whose callback is bound once: op
// stays off the heap.
func onRawConn(rc syscall.RawConn, op *fdOp) (cerr, err error) {
	if netconn.IsNil(rc) {
		return fmt.Errorf("%w: nil syscall.RawConn", ErrNotTCP), nil
	}
	p := fdOps.Get().(*fdOp)
	p.kind, p.plain, p.src, p.cfg = op.kind, op.plain, op.src, op.cfg
	cerr = rc.Control(p.fn)
	op.ran, err = p.ran, p.err
	if op.kind != opApply { // Apply (Control's) reads nothing back
		if op.insp != nil {
			*op.insp, p.buf.insp = p.buf.insp, inspection{}
		}
		if op.st != nil {
			*op.st, p.buf.st = p.buf.st, Status{}
		}
		if op.end != nil {
			*op.end, p.buf.end = p.buf.end, ending{}
		}
	}
	p.ran, p.err = false, nil
	fdOps.Put(p)
	switch {
	case cerr != nil:
		return fmt.Errorf("keepalive: %w", cerr), nil
	case !op.ran:
		return fmt.Errorf("keepalive: %T.Control returned without calling its function: %w", rc, syscall.EINVAL), nil
	}
	return nil, err
}

var fdOps = sync.Pool{New: func() any {
	op := &fdOp{buf: new(fdBuf)}
	op.insp, op.st, op.end = &op.buf.insp, &op.buf.st, &op.buf.end
	op.fn = func(fd uintptr) { op.err = op.runRaw(fd) }
	return op
}}

// errHidden is what socketOf reports for a connection that is TCP but
// does not expose its socket (a wrapper without NetConn or SyscallConn).
var errHidden = errors.New("the connection does not expose its socket (it has neither a NetConn() nor a SyscallConn() method)")

// socketOf finds the TCP socket under conn: a *net.TCPConn, or a conn with
// a SyscallConn method (such as struct{ *net.TCPConn }) whose local address
// is TCP. It looks through NetConn() wrappers such as *tls.Conn.
func socketOf(conn net.Conn) (*net.TCPConn, syscall.Conn, error) {
	for range netconn.Depth {
		if tc, ok := conn.(*net.TCPConn); ok && tc != nil {
			return tc, nil, nil
		}
		if netconn.IsNil(conn) {
			return nil, nil, fmt.Errorf("%w: nil connection (%T)", ErrNotTCP, conn)
		}
		if _, ok := conn.(interface{ NetConn() net.Conn }); ok {
			conn = netconn.Inner(conn)
			continue
		}
		if _, ok := netconn.LocalAddr(conn).(*net.TCPAddr); !ok {
			break
		}
		if sc, ok := conn.(syscall.Conn); ok {
			return nil, sc, nil
		}
		return nil, nil, fmt.Errorf("%w: %T: %w", ErrNotTCP, conn, errHidden)
	}
	return nil, nil, fmt.Errorf("%w: %T", ErrNotTCP, conn)
}
