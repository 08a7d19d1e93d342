// Command gorillaws runs a WebSocket server and a client of it through
// github.com/gorilla/websocket, both ends with a keepalive.Config from
// layers.Within (the server's listener: Config.Listen, watched by
// keepalive.WatchListener; the client: Dialer.NetDialContext) and
// WebSocket pings on both ends from the same plan's Heartbeat, run by a
// heartbeat.Monitor.
//
//	go run ./gorillaws
//
// gorilla/websocket sends no pings of its own (it answers the peer's only
// while the application reads), sets no read deadline, dials with a zero
// net.Dialer (Go's 15 s, 15 s, 9, no UserTimeout) and never reconnects: a
// read or write error ends the Conn, and the application dials again.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/heartbeat"
	"github.com/keepalive-go/keepalive/layers"
)

// Dead within 30 s, behind a load balancer that forgets flows idle for 350 s.
const deadline, middleboxIdle = 30 * time.Second, 350 * time.Second

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	p, err := layers.Within(deadline, middleboxIdle)
	if err != nil {
		return err
	}
	m, err := heartbeat.NewMonitor(p.Heartbeat) // one per process, for both ends here
	if err != nil {
		return err
	}
	defer m.Close()

	// The server: every accepted connection holds p.TCP; its end is logged.
	ln, err := p.TCP.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := NewServer(m, logFail("client"))
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(keepalive.WatchListener(ln, logEnd("client")))
	defer hs.Close()

	// The client.
	dialer := &websocket.Dialer{
		NetDialContext:   keepalive.WatchDial(p.TCP.Dialer(nil).DialContext, logEnd("server")),
		HandshakeTimeout: 5 * time.Second,
	}
	c, err := Dial(ctx, dialer, "ws://"+ln.Addr().String()+"/", m, logFail("server"))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Echo(ctx, []byte("ok")); err != nil {
		return err
	}
	client, err := keepalive.Inspect(c.NetConn())
	if err != nil {
		return err
	}
	server, err := keepalive.Inspect(srv.Conns()[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "WebSocket within %v: client's connection holds %+v, server's %+v; pings every %v, dead after %v unanswered\n",
		deadline, client, server, p.Heartbeat.Interval, p.Heartbeat.Timeout)
	return nil
}

// Ping returns a ping for heartbeat.Monitor over c: a WebSocket ping, done
// once its pong arrives. gorilla hands a pong to c's PongHandler only
// while c is being read, so c must have a reader running (both ends here
// do). It installs c's PongHandler.
func Ping(c *websocket.Conn) func(ctx context.Context) error {
	pongs := make(chan struct{}, 1)
	c.SetPongHandler(func(string) error {
		select {
		case pongs <- struct{}{}:
		default:
		}
		return nil
	})
	return func(ctx context.Context) error {
		select { // a late pong of an earlier ping
		case <-pongs:
		default:
		}
		dl, _ := ctx.Deadline()
		if err := c.WriteControl(websocket.PingMessage, nil, dl); err != nil { // safe beside other writes
			return err
		}
		select {
		case <-pongs:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Client is a WebSocket client that reads all the time (so that pongs are
// handled) and hands each message it reads to Echo.
type Client struct {
	ws    *websocket.Conn
	msgs  chan []byte
	done  chan struct{} // closed once the reader has stopped
	err   error         // why, once done is closed
	wmu   sync.Mutex    // gorilla allows one writer at a time
	pings *heartbeat.Pinger
}

// Dial connects to url with d and, with m not nil, pings the server with
// m (onFail is told if a ping fails: the Monitor has closed the conn).
func Dial(ctx context.Context, d *websocket.Dialer, url string, m *heartbeat.Monitor, onFail func(error)) (*Client, error) {
	ws, _, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	c := &Client{ws: ws, msgs: make(chan []byte, 16), done: make(chan struct{})}
	ping := Ping(ws)
	go c.read()
	if m != nil {
		if c.pings, err = m.Start(ws.NetConn(), ping, onFail); err != nil {
			ws.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Client) read() {
	defer close(c.done)
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			c.err = err
			c.ws.Close() // gorilla leaves the connection open after an error
			return
		}
		select {
		case c.msgs <- msg:
		default: // nobody waits for it
		}
	}
}

// Echo sends msg and waits for the server's echo, or the connection's end.
func (c *Client) Echo(ctx context.Context, msg []byte) error {
	select {
	case <-c.done: // the reader's error says why, not the write's on a closed conn
		return c.err
	default:
	}
	c.wmu.Lock()
	err := c.ws.WriteMessage(websocket.BinaryMessage, msg)
	c.wmu.Unlock()
	if err != nil {
		c.ws.Close()
		return err
	}
	select {
	case got := <-c.msgs:
		if string(got) != string(msg) {
			return fmt.Errorf("echo: got %q, want %q", got, msg)
		}
		return nil
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NetConn is the client's TCP connection.
func (c *Client) NetConn() net.Conn { return c.ws.NetConn() }

// Done is closed once the client's connection has ended; Err says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is the reader's error, once Done is closed.
func (c *Client) Err() error { <-c.done; return c.err }

// Close closes the connection and stops its pings.
func (c *Client) Close() {
	if c.pings != nil {
		c.pings.Stop()
	}
	c.ws.Close()
	<-c.done
}

// Server echoes every message a client sends, pings each client with its
// Monitor (if not nil), and closes a connection whose read fails.
type Server struct {
	m      *heartbeat.Monitor
	onFail func(error)
	up     websocket.Upgrader

	mu    sync.Mutex
	conns map[*websocket.Conn]*sync.Mutex // each with its write lock
	ended []error                         // why each connection's reader stopped
}

// NewServer returns a Server; m may be nil (no pings).
func NewServer(m *heartbeat.Monitor, onFail func(error)) *Server {
	return &Server{m: m, onFail: onFail, conns: map[*websocket.Conn]*sync.Mutex{}}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	wmu := &sync.Mutex{}
	s.mu.Lock()
	s.conns[ws] = wmu
	s.mu.Unlock()
	ping := Ping(ws)
	if s.m != nil {
		p, err := s.m.Start(ws.NetConn(), ping, s.onFail)
		if err != nil {
			return
		}
		defer p.Stop()
	}
	for {
		typ, msg, err := ws.ReadMessage()
		if err != nil {
			s.mu.Lock()
			delete(s.conns, ws)
			s.ended = append(s.ended, err)
			s.mu.Unlock()
			return
		}
		wmu.Lock()
		err = ws.WriteMessage(typ, msg)
		wmu.Unlock()
		if err != nil {
			return
		}
	}
}

// Push writes msg to every client, as a server pushing an event does.
func (s *Server) Push(msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for ws, wmu := range s.conns {
		wmu.Lock()
		errs = append(errs, ws.WriteMessage(websocket.BinaryMessage, msg))
		wmu.Unlock()
	}
	return errors.Join(errs...)
}

// Conns returns the TCP connections of the clients being served.
func (s *Server) Conns() []net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var conns []net.Conn
	for ws := range s.conns {
		conns = append(conns, ws.NetConn())
	}
	return conns
}

// Ended returns why each client's connection ended, as the server's
// ReadMessage said.
func (s *Server) Ended() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.ended...)
}

// logEnd is the hook keepalive.WatchDial and WatchListener call as each
// connection is closed: a dead peer is logged as one.
func logEnd(peer string) keepalive.OnEnd {
	return func(conn net.Conn, cause keepalive.Cause, st keepalive.Status) {
		if cause.PeerDead() {
			slog.Warn("WebSocket "+peer+" dead", "remote", conn.RemoteAddr(), "cause", cause, "probes", st.Probes, "retransmits", st.Retransmits)
		}
	}
}

// logFail is the Monitor's onFail: a ping failed, the connection is closed.
func logFail(peer string) func(error) {
	return func(err error) { slog.Warn("WebSocket "+peer+" did not answer a ping", "err", err) }
}
