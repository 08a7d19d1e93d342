package itest

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive/internal/testkit/deadpeer"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

// BackendRelay is an L4 proxy whose backend can die while its client side
// stays healthy: its kernel goes on answering the client (TCP keepalive
// probes included), as a load balancer or Envoy in TCP mode does. It is the
// opposite of a keepalivetest.Proxy, whose client side is what dies: here
// the relay's own connections to the backend are silenced, and every one
// it dials after KillBackend too, which a Proxy (new connections work, as
// after a failover) does not model.
type BackendRelay struct {
	ln       net.Listener
	mu       sync.Mutex
	backends []net.Conn
	silent   bool
}

// NewBackendRelay listens on a free loopback port and relays every
// connection to target. It stops when the test ends.
func NewBackendRelay(t testing.TB, target string) *BackendRelay {
	t.Helper()
	lc := net.ListenConfig{KeepAlive: -1} // a dead backend sends nothing; nor does the relay
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("relay: listen: %v", err)
	}
	r := &BackendRelay{ln: ln}
	var conns []net.Conn
	var cmu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		cmu.Lock()
		defer cmu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		d := net.Dialer{KeepAlive: -1, Timeout: 5 * time.Second}
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := d.Dial("tcp4", target)
			if err != nil {
				c.Close()
				continue
			}
			cmu.Lock()
			conns = append(conns, c, b)
			cmu.Unlock()
			r.mu.Lock()
			r.backends = append(r.backends, b)
			if r.silent { // a new backend connection is as dead as the old ones
				keepalivetest.Silence(b)
			}
			r.mu.Unlock()
			go io.Copy(b, c)
			go io.Copy(c, b)
		}
	}()
	return r
}

// Addr is the address clients dial.
func (r *BackendRelay) Addr() string { return r.ln.Addr().String() }

// KillBackend makes the backend dead to the relay: every segment it sends
// the relay is dropped (deadpeer.Silence), now and on connections the
// relay dials later.
func (r *BackendRelay) KillBackend(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.silent = true
	for _, b := range r.backends {
		deadpeer.Silence(t, b)
	}
}
