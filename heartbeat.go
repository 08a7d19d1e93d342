package keepalive

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// Heartbeat says how often a connection is pinged at the application
// layer, where TCP keepalive cannot see: a peer whose process hangs, or a
// dead server behind a proxy that still answers TCP. Monitor runs it.
type Heartbeat struct {
	// Interval is the time from the end of one ping to the start of the
	// next.
	Interval time.Duration
	// Timeout is how long one ping may take before the connection is
	// declared dead.
	Timeout time.Duration
}

// Validate reports whether h can run: both durations positive. The error
// wraps syscall.EINVAL.
func (h Heartbeat) Validate() error {
	if h.Interval <= 0 || h.Timeout <= 0 {
		return fmt.Errorf("keepalive: invalid Heartbeat{Interval: %v, Timeout: %v}: both must be positive: %w", h.Interval, h.Timeout, syscall.EINVAL)
	}
	return nil
}

// Detection bounds how long a Monitor running h keeps a connection to a
// dead or hung peer open. Idle counts from the end of the last ping that
// succeeded: Interval + Timeout, and HeartbeatSlack of it later at worst.
// InFlight and ZeroWindow count from a write: a ping may already be
// running (min 0), and the bound is the same.
func (h Heartbeat) Detection() (Detection, error) {
	if err := h.Validate(); err != nil {
		return Detection{}, err
	}
	d := satAdd(h.Interval, h.Timeout)
	worst := satAdd(d, HeartbeatSlack(d))
	return Detection{Idle: d, IdleMin: d, IdleMax: worst, InFlightMax: worst, ZeroWindowMax: worst}, nil
}

// HeartbeatSlack bounds how late a Monitor acts on a deadline d ahead
// (Go's timer and scheduler): 100 ms plus 1/32 of d. docs/layers.md has
// the measurement.
func HeartbeatSlack(d time.Duration) time.Duration {
	return satAdd(100*time.Millisecond, d/32)
}

// HeartbeatError is why a Monitor closed a connection.
type HeartbeatError struct {
	Conn net.Conn
	// Timeout is the Timeout the ping exceeded; zero if it failed sooner.
	Timeout time.Duration
	// Err is what the ping returned, or context.DeadlineExceeded if it
	// had not returned by its deadline.
	Err error
	// Cause and Status are the kernel's view just before the hard close
	// (CauseOf): CauseOpen when TCP saw nothing wrong, as with a hung peer.
	Cause  Cause
	Status Status
}

func (e *HeartbeatError) Error() string {
	tcp := ""
	if e.Cause != CauseUnknown {
		tcp = " (TCP: " + e.Cause.String() + ")"
	}
	switch {
	case e.Timeout > 0 && errors.Is(e.Err, context.DeadlineExceeded):
		return fmt.Sprintf("keepalive: heartbeat: ping timed out after %v%s", e.Timeout, tcp)
	case e.Timeout > 0:
		return fmt.Sprintf("keepalive: heartbeat: ping timed out after %v%s: %v", e.Timeout, tcp, e.Err)
	case e.Err == nil:
		return "keepalive: heartbeat: ping failed" + tcp
	}
	return "keepalive: heartbeat: ping failed" + tcp + ": " + e.Err.Error()
}

func (e *HeartbeatError) Unwrap() error { return e.Err }

// ErrMonitorClosed is returned by Watch on a closed Monitor.
var ErrMonitorClosed = errors.New("keepalive: heartbeat: monitor closed")

// Monitor pings many connections with one Heartbeat. It holds one
// goroutine and one timer in all; a connection costs a goroutine only while
// its ping runs.
type Monitor struct {
	h     Heartbeat
	epoch time.Time

	mu      sync.Mutex
	q       watchQueue
	closed  bool
	started bool
	wake    chan struct{} // the head of q moved earlier
	done    chan struct{} // Close was called
	running sync.WaitGroup
}

// Monitor returns a Monitor running h, or h's Validate error.
func (h Heartbeat) Monitor() (*Monitor, error) {
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return &Monitor{h: h, epoch: time.Now(), wake: make(chan struct{}, 1), done: make(chan struct{})}, nil
}

// Watch pings conn with ping every Interval, starting one Interval from
// now. When a ping fails or takes longer than Timeout, the Monitor closes
// conn hard (an RST, so every blocked Read and Write returns at once, where
// a graceful close could wait on the dead peer) and calls onFail, if not
// nil, with a *HeartbeatError. ping does one round trip on conn's
// protocol; it must return once its context is done or conn is closed
// (Close waits for it), and a panic in it fails the Watch. Neither ping
// nor onFail may call Close.
func (m *Monitor) Watch(conn net.Conn, ping func(ctx context.Context) error, onFail func(error)) (*Watch, error) {
	switch {
	case m == nil || m.done == nil:
		return nil, fmt.Errorf("keepalive: heartbeat: nil or zero Monitor (make one with Heartbeat.Monitor): %w", syscall.EINVAL)
	case isNil(conn):
		return nil, fmt.Errorf("keepalive: heartbeat: nil connection: %w", syscall.EINVAL)
	case ping == nil:
		return nil, fmt.Errorf("keepalive: heartbeat: nil ping: %w", syscall.EINVAL)
	}
	w := &Watch{m: m, conn: conn, ping: ping, onFail: onFail, index: -1}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrMonitorClosed
	}
	if !m.started {
		m.started = true
		m.running.Add(1)
		go m.run()
	}
	m.schedule(w, after(m.now(), m.h.Interval))
	return w, nil
}

// Close stops every Watch, leaves the connections open, and returns once
// the pings in flight, whose contexts it cancels, have returned.
func (m *Monitor) Close() error {
	if m == nil || m.done == nil {
		return nil
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.done)
	for _, w := range m.q {
		w.index = -1
		w.state = stopped
		if w.ctx != nil {
			w.ctx.cancel(context.Canceled)
			w.ctx = nil
		}
	}
	m.q = nil
	m.mu.Unlock()
	m.running.Wait()
	return nil
}

// Len returns how many connections m watches.
func (m *Monitor) Len() int {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.q)
}

// Watch is one connection a Monitor pings.
type Watch struct {
	m      *Monitor
	conn   net.Conn
	ping   func(context.Context) error
	onFail func(error)

	// Guarded by m.mu.
	at    int64 // next event, ns since m.epoch: a ping's start, or its deadline
	index int   // in m.q; -1 if not queued
	state watchState
	ctx   *pingCtx // the ping in flight
	err   error
}

type watchState uint8

const (
	waiting watchState = iota // until at, the next ping
	pinging                   // until at, the ping's deadline
	stopped                   // by Stop or Close
	failed
)

// Stop stops pinging the connection and leaves it open; a ping in flight
// has its context cancelled. It returns false if the Watch had already
// stopped or failed.
func (w *Watch) Stop() bool {
	if w == nil || w.m == nil {
		return false
	}
	m := w.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if w.state == stopped || w.state == failed {
		return false
	}
	w.state = stopped
	if w.index >= 0 {
		heap.Remove(&m.q, w.index)
	}
	if w.ctx != nil {
		w.ctx.cancel(context.Canceled)
		w.ctx = nil
	}
	return true
}

// Err returns the *HeartbeatError that closed the connection, or nil.
func (w *Watch) Err() error {
	if w == nil || w.m == nil {
		return nil
	}
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	return w.err
}

func (m *Monitor) now() int64 { return int64(time.Since(m.epoch)) }

// after is now + d, saturating: an Interval of years must not wrap.
func after(now int64, d time.Duration) int64 { return int64(satAdd(time.Duration(now), d)) }

// schedule queues w for at; the caller holds m.mu.
func (m *Monitor) schedule(w *Watch, at int64) {
	w.at = at
	if w.index >= 0 {
		heap.Fix(&m.q, w.index)
	} else {
		heap.Push(&m.q, w)
	}
	if w.index == 0 {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

// run is the Monitor's one goroutine: it starts pings that are due and
// fails the ones past their deadline.
func (m *Monitor) run() {
	defer m.running.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var late []*Watch
	for {
		m.mu.Lock()
		now := m.now()
		for len(m.q) > 0 && m.q[0].at <= now {
			w := m.q[0]
			if w.state == waiting {
				w.state = pinging
				w.ctx = newPingCtx(m.epoch.Add(satAdd(time.Duration(now), m.h.Timeout)))
				m.schedule(w, after(now, m.h.Timeout))
				m.running.Add(1)
				go m.runPing(w, w.ctx)
				continue
			}
			heap.Pop(&m.q) // pinging: past its deadline
			w.state = failed
			w.err = &HeartbeatError{Conn: w.conn, Timeout: m.h.Timeout, Err: context.DeadlineExceeded}
			w.ctx.cancel(context.DeadlineExceeded)
			w.ctx = nil
			late = append(late, w)
		}
		next := time.Hour
		if len(m.q) > 0 {
			next = time.Duration(m.q[0].at - now)
		}
		m.mu.Unlock()
		for i, w := range late {
			// Off this goroutine: the hard close and onFail may take time.
			m.running.Add(1)
			go func() {
				defer m.running.Done()
				m.fail(w)
			}()
			late[i] = nil
		}
		late = late[:0]
		t.Reset(next)
		select {
		case <-t.C:
		case <-m.wake:
		case <-m.done:
			return
		}
	}
}

// runPing runs one ping and schedules the next, or fails w.
func (m *Monitor) runPing(w *Watch, ctx *pingCtx) {
	defer m.running.Done()
	err := safePing(ctx, w.ping)
	m.mu.Lock()
	if w.ctx != ctx { // stopped, or failed by its deadline
		m.mu.Unlock()
		return
	}
	w.ctx = nil
	if err == nil {
		w.state = waiting
		m.schedule(w, after(m.now(), m.h.Interval))
		m.mu.Unlock()
		return
	}
	heap.Remove(&m.q, w.index)
	w.state = failed
	he := &HeartbeatError{Conn: w.conn, Err: err}
	if !time.Now().Before(ctx.deadline) { // its own deadline (from ctx) ended it
		he.Timeout = m.h.Timeout
	}
	w.err = he
	m.mu.Unlock()
	ctx.cancel(context.Canceled)
	m.fail(w)
}

// fail closes w's connection hard and reports why, with the kernel's view
// read before the close discards it.
func (m *Monitor) fail(w *Watch) {
	// The kernel's view before the hard close erases it. A copy carries
	// it, so an error Err already handed out is never written to.
	cause, st, cerr := CauseOf(w.conn)
	m.mu.Lock()
	if he, ok := w.err.(*HeartbeatError); ok && cerr == nil {
		e := *he
		e.Cause, e.Status = cause, st
		w.err = &e
	}
	err := w.err
	m.mu.Unlock()
	closeHard(w.conn)
	if w.onFail != nil {
		w.onFail(err)
	}
}

// closeHard closes conn with SO_LINGER 0 where it is TCP, so the kernel
// sends an RST and drops unsent data instead of waiting on a dead peer.
func closeHard(conn net.Conn) {
	// One walk down the NetConn chain to the *net.TCPConn, closed there,
	// below any TLS layer, so no close_notify waits on a dead peer; or
	// through the first WatchConn wrapper on the way, which reports first.
	var watched net.Conn
	c := conn
	for range 16 { // wrappers pointing at each other must not hang us
		switch w := c.(type) {
		case *net.TCPConn:
			w.SetLinger(0)
			if watched != nil {
				watched.Close()
			} else {
				w.Close()
			}
		case *watchedTCP, *watchedConn:
			if watched == nil {
				watched = c
			}
		}
		nc, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		if c = netConn(nc); isNil(c) {
			break
		}
	}
	conn.Close()
}

// safePing runs ping, a panic in it an error: one connection's bug closes
// that connection, not the process with every other.
func safePing(ctx context.Context, ping func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("ping panicked: %v", p)
		}
	}()
	return ping(ctx)
}

// pingCtx is a ping's context: its deadline is kept by the Monitor's one
// timer, so a ping costs no timer of its own.
type pingCtx struct {
	deadline time.Time
	done     chan struct{}
	mu       sync.Mutex
	err      error
}

func newPingCtx(deadline time.Time) *pingCtx {
	return &pingCtx{deadline: deadline, done: make(chan struct{})}
}

func (c *pingCtx) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *pingCtx) Done() <-chan struct{}       { return c.done }
func (c *pingCtx) Value(any) any               { return nil }

func (c *pingCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *pingCtx) cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		close(c.done)
	}
}

// watchQueue is a min-heap of watches by at.
type watchQueue []*Watch

func (q watchQueue) Len() int           { return len(q) }
func (q watchQueue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q watchQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *watchQueue) Push(x any) {
	w := x.(*Watch)
	w.index = len(*q)
	*q = append(*q, w)
}
func (q *watchQueue) Pop() any {
	old := *q
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.index = -1
	*q = old[:len(old)-1]
	return w
}
