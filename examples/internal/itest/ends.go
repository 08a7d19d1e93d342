package itest

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive"
)

// Ends records, through keepalive.WatchDial, why each connection a driver
// closed had ended: the public API's view, decided before the driver's
// Close released the descriptor.
type Ends struct {
	mu    sync.Mutex
	ended map[net.Conn]End
	added chan struct{}
}

// End is what the hook received for one connection.
type End struct {
	Cause  keepalive.Cause
	Status keepalive.Status
}

// NewEnds returns an empty record.
func NewEnds() *Ends { return &Ends{ended: map[net.Conn]End{}, added: make(chan struct{}, 1)} }

// Hook is the keepalive.OnEnd that records.
func (e *Ends) Hook(conn net.Conn, cause keepalive.Cause, st keepalive.Status) {
	e.mu.Lock()
	e.ended[conn] = End{cause, st}
	e.mu.Unlock()
	select {
	case e.added <- struct{}{}:
	default:
	}
}

// Wait waits, for up to bound, until the driver has closed conn, and
// returns why it had ended.
func (e *Ends) Wait(t testing.TB, conn net.Conn, bound time.Duration) End {
	t.Helper()
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	for {
		e.mu.Lock()
		end, ok := e.ended[conn]
		e.mu.Unlock()
		if ok {
			return end
		}
		select {
		case <-e.added:
		case <-deadline.C:
			t.Fatalf("the driver did not close its connection within %v", bound)
		}
	}
}
