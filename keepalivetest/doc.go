// Package keepalivetest lets a test prove, on real sockets, that its code
// notices a dead TCP peer within a deadline.
//
// [Silence] makes one end of a connection behave like a crashed host: the
// kernel drops everything that arrives for it (a socket filter), so the
// other end's keepalive probes and data go unanswered. A [Listener] (around
// a listener of the test's own, or a [Proxy] in front of a real server)
// hands out its connections as [Conn]s that can [Fail] on command: silent,
// reset, hung, or held by a child process. [InNetNS] re-runs a test in a
// user and network namespace of its own, where an unprivileged go test may
// attach the filter. [EndsWithin] waits, bounded, for an operation or a
// connection to end, and says what the kernel saw when it does not.
//
// Linux only: elsewhere Silence, Fail with Silent or Held, and Rerun
// return an error wrapping [errors.ErrUnsupported] that names the OS, and
// InNetNS skips. Every wait is bounded; nothing outlives the test that
// closes what it made (see docs/testing-your-service.md).
package keepalivetest

import (
	"errors"
	"fmt"
)

// ErrRefused is wrapped by the error of Silence when the kernel refuses the
// socket filter (EPERM, also wrapped): on Linux 6.x a TCP socket takes one
// only from a process with CAP_NET_ADMIN over its network namespace. Root
// has it, and so does an unprivileged test inside InNetNS.
var ErrRefused = errors.New("keepalivetest: the kernel refused the socket filter that silences the peer")

// A Fault is how a Conn dies.
type Fault int

// The faults. To the other end, a Silent peer is a crashed host or a
// pulled cable (nothing comes back, not even an ACK); a Reset one sends an
// RST; a Hung one is a process that stopped reading and writing, while its
// kernel still acknowledges (zero window once the buffers fill); a Held
// one was killed while a child process still holds its socket (as Hung,
// and the socket belongs to another process).
const (
	Silent Fault = iota + 1
	Reset
	Hung
	Held
)

var faultNames = [...]string{"", "silent", "reset", "hung", "held"}

func (f Fault) String() string {
	if f > 0 && int(f) < len(faultNames) {
		return faultNames[f]
	}
	return fmt.Sprintf("fault(%d)", int(f))
}

func (f Fault) check() error {
	if f < Silent || f > Held {
		return fmt.Errorf("keepalivetest: %v: not a Fault (Silent, Reset, Hung or Held)", f)
	}
	return nil
}

// TB is what the package needs of a test: *testing.T and *testing.B have
// it. (A program that Reruns itself need not link the testing package.)
type TB interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Error(args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skip(args ...any)
	Skipf(format string, args ...any)
}
