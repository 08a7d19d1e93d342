// Package itest is what the examples' tests share: the Config they use, the
// time bounds it predicts, the DeadPeer measurement (its dead peer is a
// keepalivetest.Proxy), an L4 proxy whose backend can die behind a healthy
// front (BackendRelay), a dialer that keeps the connections it made, and
// real servers (PostgreSQL, Redis) started from the system's packages.
package itest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// Config is short so the tests finish in seconds. UserTimeout set: an idle
// connection is dropped after Idle + 2 probes (3 s, worst case 3.4 s), data
// in flight UserTimeout after the write (at worst the model's InFlightMax).
var Config = keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 2, UserTimeout: 3 * time.Second}

// Slack covers a loaded 2-core machine, the race detector and the driver
// between the kernel failing the socket and the driver's call returning.
const Slack = time.Second

// jiffy covers the kernel stamping the last received segment in whole ticks.
const jiffy = 10 * time.Millisecond

// IdleBound is the longest an idle connection to a dead peer may take to be
// dropped, counted from the last segment it received (the kernel's stamp,
// as Linux counts Idle): the worst case of the model plus Slack.
func IdleBound(cfg keepalive.Config) time.Duration { return detection(cfg).IdleMax + Slack }

// IdleEarliest is the soonest it may be dropped, counted the same way: the
// model's earliest, less a tick.
func IdleEarliest(cfg keepalive.Config) time.Duration { return detection(cfg).IdleMin - jiffy }

// InFlightBound is the longest a request sent to a dead peer may take to
// fail, from the call: the model's InFlightMax, counted from the write, and
// Slack.
func InFlightBound(cfg keepalive.Config) time.Duration {
	return detection(cfg).InFlightMax + Slack
}

// InFlightEarliest is the soonest such a request may fail: UserTimeout.
func InFlightEarliest(cfg keepalive.Config) time.Duration {
	return detection(cfg).InFlightMin
}

// detection is the library's model for cfg with this host's system values.
// The configs here are fixed and valid, so an error is a bug in the tests.
func detection(cfg keepalive.Config) keepalive.Detection {
	sys, err := keepalive.ReadSystem()
	if err != nil {
		panic("itest: " + err.Error())
	}
	d, err := cfg.Detection(sys)
	if err != nil {
		panic("itest: " + err.Error())
	}
	return d
}

// InFlightWait bounds the wait for a request to leave on the pooled
// connection, and NextWait the request after a dead connection was dropped
// (a new connection, with the driver's handshake). Neither is a detection
// bound: they only keep a stuck test from hanging, and are generous for
// the race detector on two busy cores.
const (
	InFlightWait = 3 * time.Second
	NextWait     = 5 * time.Second
)

// QuietTime is how long a connection must have carried no data before the
// idle case silences its peer (Socket.WaitQuiet); well under Config.Idle,
// and if a keepalive probe is answered meanwhile, Idle counts from its ACK.
const QuietTime = 200 * time.Millisecond

// ControlWait is how long the control case (the same client without the
// library) is watched before it is reported as still hanging: three times
// the longer of the two bounds.
func ControlWait(cfg keepalive.Config) time.Duration {
	return 3 * max(IdleBound(cfg), InFlightBound(cfg))
}

// Tracker dials with dial and keeps every connection it made, so a test can
// look at the connection a driver actually uses.
type Tracker struct {
	dial  testkit.DialFunc
	mu    sync.Mutex
	conns []net.Conn
}

// Track returns a Tracker that dials with dial.
func Track(dial testkit.DialFunc) *Tracker { return &Tracker{dial: dial} }

// Dial dials like net.Dialer.DialContext and remembers the connection.
func (tr *Tracker) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := tr.dial(ctx, network, address)
	if err == nil {
		tr.mu.Lock()
		tr.conns = append(tr.conns, c)
		tr.mu.Unlock()
	}
	return c, err
}

// Conns returns the connections dialed so far, oldest first.
func (tr *Tracker) Conns() []net.Conn {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]net.Conn(nil), tr.conns...)
}

// Call is a call running in its own goroutine, so a test can bound its wait.
type Call struct {
	start time.Time
	done  chan struct{}
	took  time.Duration
	err   error
}

// Start runs fn in a new goroutine and returns at once.
func Start(fn func() error) *Call {
	c := &Call{start: time.Now(), done: make(chan struct{})}
	go func() {
		err := fn()
		c.took, c.err = time.Since(c.start), err
		close(c.done)
	}()
	return c
}

// Wait waits until the call returned or bound has passed since it started.
// returned is whether it returned within bound, by the time the call took;
// if it is false and err is nil, it is still running: it hangs.
func (c *Call) Wait(bound time.Duration) (took time.Duration, err error, returned bool) {
	timer := time.NewTimer(time.Until(c.start.Add(bound)))
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
		// This goroutine can run long after the timer fired, when the call
		// has returned too, and select picks either: the call decides.
		select {
		case <-c.done:
		default:
			return time.Since(c.start), nil, false
		}
	}
	return c.took, c.err, c.took <= bound
}

// LogUntil returns t.Logf for a driver's callbacks, which may run after
// the test has ended (a connection-lost handler as the relay closes), and
// stop, after which it logs nothing: call stop before closing the client.
func LogUntil(t testing.TB) (logf func(format string, args ...any), stop func()) {
	var mu sync.Mutex
	done := false
	logf = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Logf(format, args...)
		}
	}
	stop = func() {
		mu.Lock()
		done = true
		mu.Unlock()
	}
	return logf, stop
}
