package faultlab

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// Load is what the client does with the connection.
type Load int

const (
	Idle      Load = iota // nothing written; a Read blocked
	Send                  // 100 bytes written after the fault; a Read blocked
	SendFirst             // 100 bytes written, then the fault at once; a Read blocked
	Flood                 // one Write of more than the buffers hold, blocked, and a Read
	Trickle               // a byte written every 250 ms; a Read blocked
)

// Bound is the promise a Case is measured against.
type Bound int

const (
	IdleBound       Bound = iota // Detection's IdleMin..IdleMax, from before the dial
	InFlightBound                // InFlightMin..InFlightMax, from the write
	ZeroWindowBound              // ZeroWindowMin..ZeroWindowMax, from the peer's window closing
	FirstProbe                   // the first keepalive probe (a reset): Idle, late at most as the idle timer, from before the dial
	AtOnce                       // within a second of the fault
	Never                        // still open after Wait
)

// SchedSlack covers the scheduler on a loaded 2-core machine (and the race
// detector) between the kernel failing the socket and the blocked call
// returning; jiffy the kernel's timestamps, rounded down to a tick.
const (
	SchedSlack = 500 * time.Millisecond
	jiffy      = 10 * time.Millisecond
	maxWait    = 20 * time.Second
)

// Case is one way a peer dies.
type Case struct {
	Name   string
	Routed bool // behind the NAT router instead of the bridge
	NAT    NAT
	// Peer: "" for a peer socket in this process that never reads;
	// otherwise a peer process (StartPeer).
	Peer PeerMode
	// Silenced: the server drops every TCP segment from the start (nft),
	// so data stays in flight.
	Silenced bool
	Config   keepalive.Config
	Plain    bool // dial without the library: net.Dialer{KeepAlive: -1}, no SO_KEEPALIVE
	// Dialer, if set, makes the client's dial function from Config (the
	// server's listener is Go's default: Multipath TCP).
	Dialer func(keepalive.Config) DialFunc
	// Sysctls are set in the client's namespace; System must say the same,
	// as the model's input (a fresh namespace has the kernel's defaults:
	// System{}).
	Sysctls map[string]string
	System  keepalive.System
	Load    Load
	Fault   func(t *Topology, p *Peer, network string) error
	Bound   Bound
	Wait    time.Duration // Never: how long it must stay open
	// Errors are what the failing call may return (errors.Is).
	Errors []error
	// ReaderErrors, with Flood and Never, are what the blocked Read may
	// return. (With a failure, one of the two blocked calls gets it and
	// the other EOF or EPIPE.)
	ReaderErrors []error
	// ProbesAnswered (Never, keepalive on): the peer's kernel answered
	// the probes, so the last ACK came less than Idle + Interval ago.
	ProbesAnswered bool
	// SubflowClosed (Never, Multipath TCP): TCP_INFO, the subflow's, says
	// CLOSE while the connection's calls still block.
	SubflowClosed bool
	IPv6          bool   // run over IPv6 too
	Detects       string // what ends the connection, for the failure table
	// Errors6 replace Errors over IPv6 where the kernel's differ.
	Errors6 []error
}

// Result is one measurement of a Case.
type Result struct {
	Case    *Case
	Network string
	// Model is the bound's nominal value; Lo and Hi its earliest and
	// latest (for Never, Hi is the wait).
	Model, Lo, Hi time.Duration
	Detection     keepalive.Detection // the model for the Case's Config and System
	RTO           time.Duration       // the connection's RTO at the write (TCP_INFO), the model's System.RTO
	Took          time.Duration       // from the bound's start to the failing call's return
	Err           error               // what the failing call returned
	ReaderErr     error               // Flood: what the blocked Read returned
	Writes        int                 // Trickle: writes that succeeded
	State         uint8               // TCP_INFO state at the end (1 ESTABLISHED)
	LastAckRecv   time.Duration       // TCP_INFO: since the last ACK received, at the end
}

// Measure builds the Case's topology in l, connects, injects the fault and
// times what happens, over network ("tcp4" or "tcp6"). An error means it
// could not be measured; Check says whether the measurement kept the
// promise.
func Measure(l *Lab, c *Case, network string) (Result, error) {
	r := Result{Case: c, Network: network}
	var t *Topology
	var err error
	if c.Routed {
		t, err = l.Routed(c.NAT)
	} else {
		t, err = l.Bridged()
	}
	if err != nil {
		return r, err
	}
	for name, v := range c.Sysctls {
		if err := Sysctl(t.Client, name, v); err != nil {
			return r, err
		}
	}
	dial := c.Config.Dial
	switch {
	case c.Plain:
		dial = (&net.Dialer{KeepAlive: -1}).DialContext
	case c.Dialer != nil:
		dial = c.Dialer(c.Config)
	}
	start := time.Now() // before the handshake, so before the last segment received
	var client, server net.Conn
	var peer *Peer
	if c.Peer == "" {
		if client, server, err = t.Pair(dial, network); err != nil {
			return r, err
		}
		defer server.Close()
	} else {
		if peer, err = t.StartPeer(network, c.Peer); err != nil {
			return r, err
		}
		start = time.Now()
		if client, err = t.Dial(dial, network, peer.Addr); err != nil {
			return r, err
		}
		if err := peer.Ready(); err != nil {
			client.Close()
			return r, err
		}
	}
	defer client.Close()
	if c.Bound == AtOnce {
		start = time.Now()
	}
	if c.Silenced {
		if err := t.Filter(Server, "input", "drop"); err != nil {
			return r, err
		}
	}
	sys := c.System
	if sys.RTO == 0 && c.Load != Idle && c.Load != Trickle {
		if sys.RTO, err = rto(client); err != nil {
			return r, err
		}
		r.RTO = sys.RTO
	}
	if err := r.bounds(sys); err != nil {
		return r, err
	}
	if c.Load == SendFirst {
		start = time.Now()
		if _, err := client.Write(make([]byte, 100)); err != nil {
			return r, fmt.Errorf("faultlab: the write before the fault: %w", err)
		}
	}
	if c.Fault != nil {
		if err := c.Fault(t, peer, network); err != nil {
			return r, err
		}
	}
	// The first probe must find the fault in place, or its answer would
	// restart the idle clock.
	if idle := c.Config.Rounded().Idle; (c.Bound == IdleBound || c.Bound == FirstProbe) && time.Since(start) > idle-500*time.Millisecond {
		return r, fmt.Errorf("faultlab: the fault came %v after the dial, too close to the first probe at %v; the machine is too loaded", time.Since(start), idle)
	}
	if c.Load != SendFirst && (c.Bound == InFlightBound || c.Bound == ZeroWindowBound || c.Load != Idle && c.Bound == Never) {
		start = time.Now()
	}
	wait := r.Hi + SchedSlack
	if c.Bound != Never {
		// A bound far beyond what the lab takes (tcp_retries2 without a
		// user timeout allows minutes) would only make a failure slow.
		wait = min(wait, maxWait)
	}
	if err := client.SetDeadline(start.Add(wait)); err != nil {
		return r, err
	}
	type ended struct {
		at  time.Time
		err error
	}
	read := make(chan ended, 1)
	go func() {
		var b [512]byte
		for {
			if _, err := client.Read(b[:]); err != nil {
				read <- ended{time.Now(), err}
				return
			}
		}
	}()
	write := make(chan ended, 1)
	switch c.Load {
	case Send:
		if _, err := client.Write(make([]byte, 100)); err != nil {
			return r, fmt.Errorf("faultlab: the write after the fault: %w", err)
		}
	case Flood:
		if c.Bound == InFlightBound {
			// Queue data before the flood: a writer goroutine that starts
			// late on a loaded machine would leave the connection idle,
			// for keepalive to end it from the last segment received (CI
			// saw that once: 2.85 s, the reader ETIMEDOUT, the writer's
			// first Write EPIPE).
			start = time.Now()
			if _, err := client.Write(make([]byte, 100)); err != nil {
				return r, fmt.Errorf("faultlab: the write after the fault: %w", err)
			}
		}
		go func() {
			big := make([]byte, 64<<20)
			for {
				if _, err := client.Write(big); err != nil {
					write <- ended{time.Now(), err}
					return
				}
			}
		}()
		if c.Bound == ZeroWindowBound {
			// The bound counts from the first write the closed window
			// keeps from leaving: when the peer's buffer is full, which
			// on a loaded machine can take a while after the flood began.
			if start, err = windowClosed(client, start.Add(wait)); err != nil {
				return r, err
			}
			if err := client.SetDeadline(start.Add(wait)); err != nil {
				return r, err
			}
		}
	case Trickle:
		go func() {
			for {
				time.Sleep(250 * time.Millisecond)
				if _, err := client.Write([]byte{1}); err != nil {
					write <- ended{time.Now(), err}
					return
				}
				r.Writes++ // read after the write channel's receive
			}
		}()
	}
	var first ended
	switch c.Load {
	case Flood:
		first = <-write
		select {
		case rd := <-read:
			r.ReaderErr = rd.err
			if rd.at.Before(first.at) { // when the connection failed
				first.at = rd.at
			}
		case <-time.After(time.Until(start.Add(wait)) + time.Second):
			return r, errors.New("faultlab: the blocked Read did not return after the Write failed")
		}
	case Trickle:
		first = <-read
		<-write
	default:
		first = <-read
	}
	r.Took, r.Err = first.at.Sub(start), first.err
	r.State, r.LastAckRecv, err = tcpState(client)
	return r, err
}

// bounds sets the Result's model, earliest and latest from the Case.
func (r *Result) bounds(sys keepalive.System) error {
	c := r.Case
	d, err := c.Config.Detection(sys)
	if err != nil {
		return err
	}
	r.Detection = d
	m := c.Config.Rounded()
	if c.Bound == ZeroWindowBound && d.ZeroWindowMax == keepalive.Never {
		return errors.New("faultlab: the model says a closed window is never ended with this Config; measure it as Never")
	}
	switch c.Bound {
	case IdleBound:
		r.Model, r.Lo, r.Hi = d.Idle, d.IdleMin, d.IdleMax
	case InFlightBound:
		r.Model, r.Lo, r.Hi = d.InFlightMin, d.InFlightMin, d.InFlightMax
	case ZeroWindowBound:
		r.Model, r.Lo, r.Hi = d.ZeroWindowMin, d.ZeroWindowMin, d.ZeroWindowMax
	case FirstProbe:
		r.Model, r.Lo, r.Hi = m.Idle, m.Idle, d.IdleMax-time.Duration(max(m.Count-1, 0))*m.Interval
		if m.Count == 0 || m.Interval == 0 {
			return errors.New("faultlab: FirstProbe needs Count and Interval set")
		}
	case AtOnce:
		r.Hi = time.Second
	case Never:
		r.Hi = c.Wait
	}
	return nil
}

// Check returns nil if r kept the Case's promise: the failing call
// returned one of the Case's errors within [Lo - a tick, Hi + SchedSlack] (Never:
// still open and ESTABLISHED after the wait).
func (r Result) Check() error {
	c := r.Case
	want := c.Errors
	if r.Network == "tcp6" && c.Errors6 != nil {
		want = c.Errors6
	}
	switch {
	case c.Load == Flood && c.Bound != Never:
		// Only one blocked call gets the error; the other sees the
		// connection closed: a Read EOF, a Write EPIPE.
		if !(isAny(r.Err, want) && errors.Is(r.ReaderErr, io.EOF)) && !(isAny(r.ReaderErr, want) && errors.Is(r.Err, syscall.EPIPE)) {
			return fmt.Errorf("the blocked Write got %s and the Read %s after %v, want one %s and the other EOF (Read) or EPIPE (Write)",
				ErrName(r.Err), ErrName(r.ReaderErr), r.Took.Round(time.Millisecond), names(want))
		}
	case !isAny(r.Err, want):
		return fmt.Errorf("got %s after %v, want %s", ErrName(r.Err), r.Took.Round(time.Millisecond), names(want))
	case c.Load == Flood && !isAny(r.ReaderErr, c.ReaderErrors):
		return fmt.Errorf("the blocked Read got %s, want %s", ErrName(r.ReaderErr), names(c.ReaderErrors))
	}
	if c.Load == Trickle && r.Writes < int(c.Wait/(250*time.Millisecond))-2 {
		return fmt.Errorf("only %d writes succeeded in %v, one every 250 ms", r.Writes, c.Wait)
	}
	if c.Bound == Never && c.SubflowClosed {
		if r.State != unix.BPF_TCP_CLOSE {
			return fmt.Errorf("the subflow's TCP state %d at the end, want CLOSE", r.State)
		}
		return nil
	}
	if c.Bound == Never {
		if r.State != unix.BPF_TCP_ESTABLISHED {
			return fmt.Errorf("TCP state %d at the end, want ESTABLISHED", r.State)
		}
		m := c.Config.Rounded()
		if c.ProbesAnswered && r.LastAckRecv > m.Idle+m.Interval+SchedSlack {
			return fmt.Errorf("no ACK for %v at the end: the probes went unanswered (Idle %v, Interval %v)", r.LastAckRecv, m.Idle, m.Interval)
		}
		return nil
	}
	if r.Took < r.Lo-jiffy || r.Took > r.Hi+SchedSlack {
		return fmt.Errorf("after %v, outside [%v, %v] (- %v, + %v scheduling slack)", r.Took.Round(time.Millisecond), r.Lo, r.Hi, jiffy, SchedSlack)
	}
	return nil
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func names(errs []error) string {
	s := ""
	for i, e := range errs {
		if i > 0 {
			s += " or "
		}
		s += ErrName(e)
	}
	return s
}

// ErrName names err as the table does: the errno's name, EOF, or "none
// (still open)" for a deadline that ran out.
func ErrName(err error) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return "none"
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "none (still open)"
	case errors.As(err, &errno):
		if n := unix.ErrnoName(errno); n != "" {
			return n
		}
	}
	return err.Error()
}

// windowClosed waits until the peer's receive window is closed
// (tcpi_snd_wnd 0) and returns when it saw that, at most until deadline.
func windowClosed(c net.Conn, deadline time.Time) (time.Time, error) {
	for time.Now().Before(deadline) {
		info, err := testkit.TCPInfo(c)
		if err != nil {
			return time.Time{}, err
		}
		if info.Snd_wnd == 0 {
			return time.Now(), nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Time{}, errors.New("faultlab: the peer's window never closed")
}

// rto reads the connection's retransmission timeout (TCP_INFO).
func rto(c net.Conn) (time.Duration, error) {
	info, err := testkit.TCPInfo(c)
	if err != nil {
		return 0, err
	}
	return time.Duration(info.Rto) * time.Microsecond, nil
}

// tcpState reads the connection's TCP state and the time since its last
// ACK received (TCP_INFO).
func tcpState(c net.Conn) (uint8, time.Duration, error) {
	info, err := testkit.TCPInfo(c)
	if err != nil {
		return 0, 0, err
	}
	return info.State, time.Duration(info.Last_ack_recv) * time.Millisecond, nil
}
