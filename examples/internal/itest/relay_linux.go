package itest

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/internal/testkit/deadpeer"
)

// Relay is a TCP relay between clients and a server, in the test process.
// Silence makes the connections it has so far behave like a dead host to
// their clients; connections made afterwards work, as after a failover.
type Relay struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	pairs []*pair
}

type pair struct {
	client, server net.Conn
	mu             sync.Mutex
	silent         bool // nothing more is written to client
}

// NewRelay listens on a free loopback port and relays every connection to
// target. It stops when the test ends.
func NewRelay(t testing.TB, target string) *Relay {
	t.Helper()
	// No keepalive on the relay's own sockets: a dead host sends nothing.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("relay: listen: %v", err)
	}
	r := &Relay{ln: ln, target: target}
	go r.serve()
	t.Cleanup(r.close)
	return r
}

// Addr is the address clients dial.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

func (r *Relay) serve() {
	d := net.Dialer{KeepAlive: -1, Timeout: 5 * time.Second}
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		s, err := d.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		p := &pair{client: c, server: s}
		r.mu.Lock()
		r.pairs = append(r.pairs, p)
		r.mu.Unlock()
		go func() { io.Copy(s, c); s.(*net.TCPConn).CloseWrite() }()
		go p.toClient()
	}
}

// toClient copies the server's bytes to the client until the pair goes silent.
func (p *pair) toClient() {
	buf := make([]byte, 32<<10)
	for {
		n, err := p.server.Read(buf)
		p.mu.Lock()
		if n > 0 && !p.silent {
			_, werr := p.client.Write(buf[:n])
			if werr != nil && err == nil {
				err = werr
			}
		}
		if err != nil {
			if !p.silent {
				p.client.(*net.TCPConn).CloseWrite() // the server's FIN
			}
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}

// Silence makes every client connection the relay has now go silent: the
// relay stops writing to it, waits until the client has acknowledged all it
// was sent (or a retransmission would reach the client and look like a live
// peer), then drops everything that arrives on it (deadpeer.Silence:
// where the kernel refuses, the test is skipped with the reason). It
// returns how many connections went silent.
func (r *Relay) Silence(t testing.TB) int {
	t.Helper()
	r.mu.Lock()
	pairs := append([]*pair(nil), r.pairs...)
	r.mu.Unlock()
	for _, p := range pairs {
		p.mu.Lock()
		p.silent = true
		p.mu.Unlock()
		deadline := time.Now().Add(2 * time.Second)
		for {
			info, err := testkit.TCPInfo(p.client)
			if err != nil {
				t.Fatalf("relay: TCP_INFO: %v", err)
			}
			if info.Unacked == 0 && info.Notsent_bytes == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("relay: the client has not acknowledged what it was sent within 2s (%d segments)", info.Unacked)
			}
			time.Sleep(5 * time.Millisecond)
		}
		deadpeer.Silence(t, p.client)
	}
	return len(pairs)
}

func (r *Relay) close() {
	r.ln.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pairs {
		p.client.Close()
		p.server.Close()
	}
}
