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
// takes, and what it found.
type fdOp struct {
	kind  opKind
	raw   bool   // from a RawConn: a failure on a socket that is not TCP is ErrNotTCP
	cfg   Config // opApply: what to set; opStatus: what the socket holds (heldOptions)
	plain bool   // opApply: the socket is plain TCP, no Multipath TCP check
	src   optionSource

	err   error // opApply, opStatus, opCause
	insp  inspection
	st    Status        // opStatus, opCause
	soErr syscall.Errno // opCause: the pending error
	opts  Config        // opCause: the probe count and user timeout in force

	fn  func(fd uintptr) // run, bound once for a pooled fdOp
	ran bool
}

type opKind uint8

const (
	opApply opKind = iota
	opInspect
	opStatus
	opCause
)

func (op *fdOp) run(fd uintptr) {
	op.ran = true
	var err error
	switch op.kind {
	case opApply:
		err = setChecked(fd, op.cfg, op.plain)
		op.err = err
	case opInspect:
		op.insp.c, op.insp.enabled, op.insp.err = getOptions(fd, true)
		err = op.insp.err
	case opStatus, opCause:
		src := op.src
		if op.kind == opCause {
			src = noOptions
		}
		err = readStatus(fd, &op.st, op.cfg, src)
		if err == nil && op.kind == opCause && op.st.State == StateClosed {
			ended(fd, &op.st, &op.soErr, &op.opts) // decides only between ended causes
		}
		op.err = err
	}
	if err != nil && op.raw && !isTCPSocket(fd) {
		err = fmt.Errorf("%w: the socket is not a TCP socket", ErrNotTCP)
		op.err, op.insp.err = err, err
	}
}

// onConn runs op on the TCP socket under conn. Its error is one that kept
// op from running: conn is not TCP, or RawConn.Control failed (typically
// conn is closed: errors.Is(err, net.ErrClosed) holds).
func onConn(conn net.Conn, op *fdOp) error {
	tc, sc, err := socketOf(conn)
	if err != nil {
		return err
	}
	if tc == nil {
		rc, err := sc.SyscallConn()
		if err != nil {
			return fmt.Errorf("keepalive: %w", err)
		}
		op.raw = true
		return onRawConn(rc, op)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return fmt.Errorf("keepalive: %w", err)
	}
	// rc is concrete here, so Control is devirtualized and the closure,
	// and op with it, stay on the caller's stack.
	if err := rc.Control(func(fd uintptr) { op.run(fd) }); err != nil {
		return fmt.Errorf("keepalive: %w", err)
	}
	return nil
}

// onRawConn is onConn for a RawConn. Its Control is an interface call, so
// op's fields go through a pooled fdOp, whose callback is bound once: op
// stays off the heap.
func onRawConn(rc syscall.RawConn, op *fdOp) error {
	if netconn.IsNil(rc) {
		return fmt.Errorf("%w: nil syscall.RawConn", ErrNotTCP)
	}
	p := fdOps.Get().(*fdOp)
	fn := p.fn
	*p = *op
	p.fn = fn
	err := rc.Control(p.fn)
	*op = *p
	op.fn = nil
	*p = fdOp{fn: fn}
	fdOps.Put(p)
	switch {
	case err != nil:
		return fmt.Errorf("keepalive: %w", err)
	case !op.ran:
		return fmt.Errorf("keepalive: %T.Control returned without calling its function: %w", rc, syscall.EINVAL)
	}
	return nil
}

var fdOps = sync.Pool{New: func() any {
	op := new(fdOp)
	op.fn = op.run
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
