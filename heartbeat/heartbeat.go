// Package heartbeat pings connections at the application layer, where TCP
// keepalive cannot see: a peer whose process hangs, or a dead server behind
// a proxy that still answers TCP. A Monitor pings many connections with one
// goroutine and one timer, and closes a connection hard when its ping fails.
package heartbeat

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/netconn"
)

// Config says how often a connection is pinged.
type Config struct {
	// Interval is the time from the end of one ping to the start of the
	// next.
	Interval time.Duration
	// Timeout is how long one ping may take before the connection is
	// declared dead.
	Timeout time.Duration
}

// Validate reports whether c can run: both durations positive. The error
// wraps syscall.EINVAL.
func (c Config) Validate() error {
	if c.Interval <= 0 || c.Timeout <= 0 {
		return fmt.Errorf("heartbeat: invalid Config{Interval: %v, Timeout: %v}: both must be positive: %w", c.Interval, c.Timeout, syscall.EINVAL)
	}
	return nil
}

// Detection bounds how long a Monitor running c keeps a connection to a
// dead or hung peer open. Idle counts from the end of the last ping that
// succeeded: Interval + Timeout, and Slack of it later at worst. InFlight
// and ZeroWindow count from a write: a ping may already be running (min
// 0), and the bound is the same.
func (c Config) Detection() (keepalive.Detection, error) {
	if err := c.Validate(); err != nil {
		return keepalive.Detection{}, err
	}
	d := satAdd(c.Interval, c.Timeout)
	worst := satAdd(d, Slack(d))
	return keepalive.Detection{Idle: d, IdleMin: d, IdleMax: worst, InFlightMax: worst, ZeroWindowMax: worst}, nil
}

// Slack bounds how late a Monitor acts on a deadline d ahead (Go's timer
// and scheduler): 100 ms plus 1/32 of d. docs/layers.md has the
// measurement.
func Slack(d time.Duration) time.Duration {
	return satAdd(100*time.Millisecond, d/32)
}

// Within returns the Config whose worst case, Interval + Timeout +
// Slack, is at most deadline: Timeout a third of deadline in whole seconds
// (at least 1 s, and less where Interval must be at least minInterval),
// Interval the longest whole number of seconds that fits. Any ping with an
// interval and a timeout (HTTP/2's, gRPC's) can take the two values. Its
// second argument is a floor (gRPC's 10 s), not keepalive.Within's
// middlebox idle timeout; layers.Within takes that one for both.
func Within(deadline, minInterval time.Duration) (Config, error) {
	minInterval = max(time.Second, minInterval)
	sum := fits(deadline)
	timeout := max(time.Second, (deadline / 3).Truncate(time.Second))
	interval := max(sum-timeout, minInterval)
	timeout = sum - interval
	if timeout < time.Second {
		return Config{}, fmt.Errorf("heartbeat: Within: a deadline of %v is too short for pings at least %v apart with a timeout of at least 1s (the shortest is %v): %w",
			deadline, minInterval, shortest(minInterval), syscall.EINVAL)
	}
	return Config{Interval: interval, Timeout: timeout}, nil
}

// fits is the longest Interval + Timeout, in whole seconds, whose worst
// case is at most deadline: sum + 100ms + sum/32 <= deadline.
func fits(deadline time.Duration) time.Duration {
	if deadline <= 100*time.Millisecond {
		return 0
	}
	return ((deadline - 100*time.Millisecond) / 33 * 32).Truncate(time.Second)
}

// shortest is the shortest deadline Within accepts for minInterval >= 1s:
// the one whose fits is minInterval + 1s rounded up to whole seconds.
// It saturates: a minInterval of centuries has none.
func shortest(minInterval time.Duration) time.Duration {
	const most = 1<<63 - 1
	if minInterval > (most-100*time.Millisecond)/33*32-2*time.Second {
		return most
	}
	sum := (minInterval + 2*time.Second - 1).Truncate(time.Second)
	d := 100*time.Millisecond + (sum/32)*33
	for fits(d) < sum { // sum/32 truncated: at most a few ns more
		d++
	}
	return d
}

// satAdd is a + b for non-negative durations, saturating.
func satAdd(a, b time.Duration) time.Duration {
	if a > 1<<63-1-b {
		return 1<<63 - 1
	}
	return a + b
}

// Error is why a Monitor closed a connection.
type Error struct {
	Conn net.Conn
	// Timeout is the Timeout the ping exceeded; zero if it failed sooner.
	Timeout time.Duration
	// Err is what the ping returned, or context.DeadlineExceeded if it
	// had not returned by its deadline.
	Err error
	// Cause and Status are the kernel's view just before the hard close
	// (keepalive.CauseOf): CauseOpen when TCP saw nothing wrong, as with a
	// hung peer.
	Cause  keepalive.Cause
	Status keepalive.Status
}

func (e *Error) Error() string {
	tcp := ""
	if e.Cause != keepalive.CauseUnknown {
		tcp = " (TCP: " + e.Cause.String() + ")"
	}
	switch {
	case e.Timeout > 0 && errors.Is(e.Err, context.DeadlineExceeded):
		return fmt.Sprintf("heartbeat: ping timed out after %v%s", e.Timeout, tcp)
	case e.Timeout > 0:
		return fmt.Sprintf("heartbeat: ping timed out after %v%s: %v", e.Timeout, tcp, e.Err)
	case e.Err == nil:
		return "heartbeat: ping failed" + tcp
	}
	return "heartbeat: ping failed" + tcp + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrClosed is returned by Start on a closed Monitor.
var ErrClosed = errors.New("heartbeat: monitor closed")

// Monitor pings many connections with one Config. It holds one
// goroutine and one timer in all; a connection costs a goroutine only while
// its ping runs.
type Monitor struct {
	cfg   Config
	epoch time.Time

	mu      sync.Mutex
	q       pingQueue
	closed  bool
	started bool
	wake    chan struct{} // the head of q moved earlier
	done    chan struct{} // Close was called
	running sync.WaitGroup
}

// NewMonitor returns a Monitor running cfg, or cfg's Validate error.
func NewMonitor(cfg Config) (*Monitor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Monitor{cfg: cfg, epoch: time.Now(), wake: make(chan struct{}, 1), done: make(chan struct{})}, nil
}

// Start pings conn with ping every Interval, starting one Interval from
// now. When a ping fails or takes longer than Timeout, the Monitor closes
// conn hard (an RST, so every blocked Read and Write returns at once, where
// a graceful close could wait on the dead peer, even through TLS) and calls
// onFail, if not nil, with an *Error. ping does one round trip on conn's
// protocol; it must return once its context is done or conn is closed
// (Close waits for it). A panic in ping fails the connection; a panic in
// onFail, or in a keepalive.OnEnd the close runs, is recovered and logged,
// as net/http does a handler's. Neither ping nor onFail may call
// Monitor.Close, which waits for them.
func (m *Monitor) Start(conn net.Conn, ping func(ctx context.Context) error, onFail func(error)) (*Pinger, error) {
	switch {
	case m == nil || m.done == nil:
		return nil, fmt.Errorf("heartbeat: nil or zero Monitor (make one with NewMonitor): %w", syscall.EINVAL)
	case netconn.IsNil(conn):
		return nil, fmt.Errorf("heartbeat: nil connection: %w", syscall.EINVAL)
	case ping == nil:
		return nil, fmt.Errorf("heartbeat: nil ping: %w", syscall.EINVAL)
	}
	w := &Pinger{m: m, conn: conn, ping: ping, onFail: onFail, index: -1}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if !m.started {
		m.started = true
		m.running.Add(1)
		go m.run()
	}
	m.schedule(w, after(m.now(), m.cfg.Interval))
	return w, nil
}

// Close stops every Pinger, leaves the connections open, and returns once
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

// Pinger is one connection a Monitor pings.
type Pinger struct {
	m      *Monitor
	conn   net.Conn
	ping   func(context.Context) error
	onFail func(error)

	// Guarded by m.mu.
	at    int64 // next event, ns since m.epoch: a ping's start, or its deadline
	index int   // in m.q; -1 if not queued
	state pingerState
	ctx   *pingCtx // the ping in flight
	err   error
}

type pingerState uint8

const (
	waiting pingerState = iota // until at, the next ping
	pinging                    // until at, the ping's deadline
	stopped                    // by Stop or Close
	failed
)

// Stop stops pinging the connection and leaves it open; a ping in flight
// has its context cancelled. It returns false if the Pinger had already
// stopped or failed.
func (w *Pinger) Stop() bool {
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

// Err returns the *Error that closed the connection, or nil.
func (w *Pinger) Err() error {
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
func (m *Monitor) schedule(w *Pinger, at int64) {
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
	var late []*Pinger
	for {
		m.mu.Lock()
		now := m.now()
		for len(m.q) > 0 && m.q[0].at <= now {
			w := m.q[0]
			if w.state == waiting {
				w.state = pinging
				w.ctx = newPingCtx(m.epoch.Add(satAdd(time.Duration(now), m.cfg.Timeout)))
				m.schedule(w, after(now, m.cfg.Timeout))
				m.running.Add(1)
				go m.runPing(w, w.ctx)
				continue
			}
			heap.Pop(&m.q) // pinging: past its deadline
			w.state = failed
			w.err = &Error{Conn: w.conn, Timeout: m.cfg.Timeout, Err: context.DeadlineExceeded}
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
func (m *Monitor) runPing(w *Pinger, ctx *pingCtx) {
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
		m.schedule(w, after(m.now(), m.cfg.Interval))
		m.mu.Unlock()
		ctx.cancel(context.Canceled) // what the ping left waiting on Done ends
		return
	}
	heap.Remove(&m.q, w.index)
	w.state = failed
	he := &Error{Conn: w.conn, Err: err}
	if !time.Now().Before(ctx.deadline) { // its own deadline (from ctx) ended it
		he.Timeout = m.cfg.Timeout
	}
	w.err = he
	m.mu.Unlock()
	ctx.cancel(context.Canceled)
	m.fail(w)
}

// fail closes w's connection hard and reports why, with the kernel's view
// read before the close discards it. It runs off the Monitor's goroutine,
// and a panic in an OnEnd or in onFail stays here.
func (m *Monitor) fail(w *Pinger) {
	// A copy carries the kernel's view, so an error Err already handed
	// out is never written to.
	m.mu.Lock()
	var said error // what the ping returned, for CauseOf
	if he, ok := w.err.(*Error); ok {
		said = he.Err
	}
	m.mu.Unlock()
	cause, st, cerr := keepalive.CauseOf(w.conn, said)
	m.mu.Lock()
	if he, ok := w.err.(*Error); ok && cerr == nil {
		e := *he
		e.Cause, e.Status = cause, st
		w.err = &e
	}
	err := w.err
	m.mu.Unlock()
	if p := netconn.CloseHard(w.conn); p != nil {
		log.Printf("heartbeat: panic in an OnEnd closing %v: %v", netconn.LocalAddr(w.conn), p)
	}
	if w.onFail != nil {
		func() {
			defer func() {
				if p := recover(); p != nil {
					log.Printf("heartbeat: panic in onFail: %v\n%s", p, debug.Stack())
				}
			}()
			w.onFail(err)
		}()
	}
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

// pingQueue is a min-heap of pingers by at.
type pingQueue []*Pinger

func (q pingQueue) Len() int           { return len(q) }
func (q pingQueue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q pingQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *pingQueue) Push(x any) {
	w := x.(*Pinger)
	w.index = len(*q)
	*q = append(*q, w)
}
func (q *pingQueue) Pop() any {
	old := *q
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.index = -1
	*q = old[:len(old)-1]
	return w
}
