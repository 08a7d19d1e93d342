package keepalive

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Cause is why a TCP connection ended, as the kernel saw it.
type Cause uint8

// The causes. String gives each one's words.
const (
	CauseUnknown       Cause = iota // the OS cannot tell
	CauseOpen                       // still open
	CauseKeepAlive                  // keepalive probes went unanswered
	CauseRetransmit                 // sent data went unacknowledged (retransmission or user timeout)
	CauseZeroWindow                 // the peer's window stayed closed (user timeout)
	CauseReset                      // the peer sent a reset
	CausePeerClosed                 // the peer closed its side (FIN)
	CauseNoRoute                    // a local network error: no route, link down, blocked
	CauseClosedLocally              // closed on this side
	CauseAborted                    // destroyed on this host by an administrator (SOCK_DESTROY, ss -K)
)

var causeNames = [...]string{"unknown", "open", "keepalive timeout", "retransmission timeout",
	"zero-window timeout", "reset by peer", "closed by peer", "no route", "closed locally",
	"aborted locally (SOCK_DESTROY)"}

func (c Cause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return fmt.Sprintf("cause(%d)", uint8(c))
}

// PeerDead reports whether c is how a dead peer ends a connection: a
// keepalive or retransmission timeout.
func (c Cause) PeerDead() bool { return c == CauseKeepAlive || c == CauseRetransmit }

// CauseOf says why conn ended, from the kernel's state and err, what the
// failed Read or Write returned (nil if none), with the Status it decided
// from (without the keepalive values). Where neither tells, it is
// CauseUnknown. Ask before Close: once conn is closed, all that is left to
// say is CauseClosedLocally. It takes the pending error (SO_ERROR) of a
// socket the kernel has closed, if a failed call has not: a Read racing it
// then sees EOF.
func CauseOf(conn net.Conn, err error) (Cause, Status, error) {
	return causeOf(conn, seen{err: err})
}

// seen is what the calls on a connection saw: the hook's wrapper knows
// more than a caller's error.
type seen struct {
	err         error
	closedWrite bool // CloseWrite succeeded, and no call's error went unrecorded
}

func causeOf(conn net.Conn, saw seen) (Cause, Status, error) {
	var st Status
	var e ending
	op := fdOp{kind: opCause, st: &st, end: &e}
	cerr, err := onConn(conn, &op)
	return decide(cerr, err, st, e, saw)
}

// CauseOfRawConn is CauseOf for a socket that is not a net.Conn.
func CauseOfRawConn(rc syscall.RawConn, err error) (Cause, Status, error) {
	var st Status
	var e ending
	op := fdOp{kind: opCause, st: &st, end: &e}
	cerr, rerr := onRawConn(rc, &op)
	return decide(cerr, rerr, st, e, seen{err: err})
}

// decide is the cause from what was read: cerr kept the read from
// happening, err is the read's own error.
func decide(cerr, err error, st Status, e ending, saw seen) (Cause, Status, error) {
	switch {
	case errors.Is(cerr, ErrNotTCP):
		return CauseUnknown, Status{}, cerr
	case cerr != nil:
		return closedOr(cerr)
	case err != nil:
		return CauseUnknown, Status{}, err
	}
	return causeFrom(st, e.soErr, e.opts, saw), st, nil
}

// ended reads what decides between the causes of an ended connection: the
// pending error, and, when keepalive probes went out and a failed call took
// the error, the probe count and user timeout in force.
func ended(fd uintptr, st *Status, soErr *syscall.Errno, opts *Config) {
	if *soErr = pendingError(fd); *soErr == 0 && st.Probes > 0 {
		var r inspection // as Inspect reads them; unsupported OSes never get here
		if r.c, r.enabled, r.err = getOptions(fd, false); r.err == nil {
			*opts = r.c
		}
	}
}

// closedOr is the cause of a connection whose socket could not be reached:
// closed on this side, or err.
func closedOr(err error) (Cause, Status, error) {
	if errors.Is(err, net.ErrClosed) {
		return CauseClosedLocally, Status{}, nil
	}
	return CauseUnknown, Status{}, err
}

// causeFrom decides the cause from what the kernel leaves on a socket
// (docs/status.md has the measurements) and what the calls saw. soErr is
// the pending socket error, 0 if a failed call took it; opts, if read, the
// keepalive values and user timeout in force. The kernel's state after a
// reset or SOCK_DESTROY whose error a call took is that of a timeout: only
// an error (pending, or the call's) or a full count of keepalive probes
// says which.
func causeFrom(st Status, soErr syscall.Errno, opts Config, saw seen) Cause {
	if !st.Has(FieldState) {
		return CauseUnknown
	}
	switch st.State {
	case StateClosed:
	case StateCloseWait, StateLastAck, StateClosing, StateTimeWait:
		return CausePeerClosed
	case StateEstablished, StateFinWait1, StateFinWait2:
		return CauseOpen
	default: // connecting, listening: nothing ended
		return CauseUnknown
	}
	if st.Known&fieldNeverConnected != 0 {
		return CauseUnknown // never connected
	}
	e := soErr
	if e == 0 {
		e = errnoOf(saw.err)
	}
	if e == syscall.EPIPE && soErr == 0 && (st.Probes > 0 || st.Retransmits > 0 || saw.closedWrite) {
		// A write after the end, whose own error another call took (a
		// driver's liveness peek), or after this side's own CloseWrite:
		// the counters decide, not the pipe.
		e = 0
	}
	switch e {
	case syscall.ECONNRESET, syscall.EPIPE:
		return CauseReset
	case syscall.ECONNABORTED:
		return CauseAborted
	case syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN:
		// A timeout with an ICMP or routing error as its soft error.
		// Retransmissions that left this host went to a peer a router
		// says is gone: a dead peer, not our own network.
		if st.Retransmits > 0 && st.Has(fieldRetransSent) && st.retransSent > 0 {
			return CauseRetransmit
		}
		return CauseNoRoute
	case syscall.EINVAL, syscall.EACCES, syscall.EPERM:
		// Our own route blackholed or prohibited, or a local firewall.
		return CauseNoRoute
	}
	if !st.Has(FieldProbes | FieldRetransmits) {
		return CauseUnknown
	}
	timedOut := e == syscall.ETIMEDOUT
	switch {
	case st.Probes > 0 && st.Retransmits == 0 && st.Unsent == 0 && probesSpent(st.Probes, opts):
		return CauseKeepAlive // a reset would have had to come in the last interval
	case !timedOut:
		if e == 0 && st.Probes == 0 && st.Retransmits == 0 && saw.closedWrite {
			// This side's FIN, then the peer's (TIME_WAIT): a reset
			// would have left its error.
			return CausePeerClosed
		}
		return CauseUnknown
	case st.Retransmits > 0 && st.Has(fieldRetransSent) && st.retransSent == 0:
		// Retransmission timeouts, and not one retransmission left
		// this host.
		return CauseNoRoute
	case st.Retransmits > 0:
		return CauseRetransmit
	case st.Has(FieldZeroWindow|FieldUnsent) && st.ZeroWindow && st.Unsent > 0:
		// The peer acknowledges each zero-window probe, which resets
		// the probe count: only the closed window and the data behind
		// it are left.
		return CauseZeroWindow
	case st.Probes > 0 && st.Has(FieldUnsent) && st.Unsent > 0:
		// Zero-window probes with the peer's window open: the data
		// could not leave this host.
		return CauseNoRoute
	case st.Probes > 0:
		return CauseKeepAlive
	}
	return CauseUnknown
}

// errnoOf is the syscall.Errno err wraps, or 0 (errors.As would move a
// target to the heap on every close).
func errnoOf(err error) syscall.Errno {
	for ; err != nil; err = errors.Unwrap(err) {
		if e, ok := err.(syscall.Errno); ok {
			return e
		}
	}
	return 0
}

// probesSpent reports whether n keepalive probes are as many as the
// kernel sends before it gives up with opts: Count, or with a user
// timeout (which the count does not decide then) the first probe at or
// past it, max(1, ceil((UserTimeout-Idle)/Interval)).
func probesSpent(n int, opts Config) bool {
	if opts.UserTimeout == 0 {
		return opts.Count > 0 && n >= opts.Count
	}
	if opts.Interval <= 0 {
		return false
	}
	k := max(1, int((opts.UserTimeout-opts.Idle+opts.Interval-1)/opts.Interval))
	return n >= k
}
