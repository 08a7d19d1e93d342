// Command coderws runs a WebSocket server and a client of it through
// github.com/coder/websocket, both ends with a keepalive.Config from
// layers.Within (the server's listener: Config.Listen, watched by
// keepalive.WatchListener; the client: the http.Transport's DialContext
// in DialOptions.HTTPClient) and WebSocket pings on both ends from the
// same plan's Heartbeat, run by a heartbeat.Monitor with Conn.Ping.
//
//	go run ./coderws
//
// coder/websocket sends no pings of its own (Conn.Ping needs a reader
// running, as it waits for the reader to see the pong), dials through
// http.DefaultClient unless told (http.DefaultTransport: KeepAlive 30 s, so
// 30 s, 15 s, 9, no UserTimeout) and never reconnects: a failed read
// closes the Conn, and the application dials again. It hides the
// net.Conn: the client takes it from its dial function, the server from
// http.Server.ConnContext.
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

	"github.com/coder/websocket"

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
	hs := &http.Server{Handler: srv, ConnContext: WithConn, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(keepalive.WatchListener(ln, logEnd("client")))
	defer hs.Close()

	// The client.
	dial := keepalive.WatchDial(p.TCP.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext, logEnd("server"))
	c, err := Dial(ctx, "ws://"+ln.Addr().String()+"/", dial, m, logFail("server"))
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

// Client is a WebSocket client that reads all the time (so that pongs are
// handled) and hands each message it reads to Echo.
type Client struct {
	ws    *websocket.Conn
	conn  net.Conn // its TCP connection
	msgs  chan []byte
	done  chan struct{} // closed once the reader has stopped
	err   error         // why, once done is closed
	pings *heartbeat.Pinger
}

// Dial connects to url through an http.Client whose connections are
// dialed with dial and, with m not nil, pings the server with m (onFail
// is told if a ping fails: the Monitor has closed the conn).
func Dial(ctx context.Context, url string, dial func(ctx context.Context, network, address string) (net.Conn, error), m *heartbeat.Monitor, onFail func(error)) (*Client, error) {
	var conn net.Conn
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := dial(ctx, network, address)
			conn = c // the one connection this client makes; Dial returns after it
			return c, err
		},
	}}
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	c := &Client{ws: ws, conn: conn, msgs: make(chan []byte, 16), done: make(chan struct{})}
	go c.read()
	if m != nil {
		if c.pings, err = m.Start(conn, ws.Ping, onFail); err != nil {
			ws.CloseNow()
			return nil, err
		}
	}
	return c, nil
}

func (c *Client) read() {
	defer close(c.done)
	for {
		_, msg, err := c.ws.Read(context.Background())
		if err != nil {
			c.err = err
			c.ws.CloseNow()
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
	if err := c.ws.Write(ctx, websocket.MessageBinary, msg); err != nil {
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
func (c *Client) NetConn() net.Conn { return c.conn }

// Done is closed once the client's connection has ended; Err says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is the reader's error, once Done is closed.
func (c *Client) Err() error { <-c.done; return c.err }

// Close closes the connection and stops its pings.
func (c *Client) Close() {
	if c.pings != nil {
		c.pings.Stop()
	}
	c.ws.CloseNow()
	<-c.done
}

type connKey struct{}

// WithConn is http.Server.ConnContext: it keeps each request's connection
// in its context, for the Monitor.
func WithConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// Server echoes every message a client sends, pings each client with its
// Monitor (if not nil), and closes a connection whose read fails. Its
// http.Server must have ConnContext WithConn.
type Server struct {
	m      *heartbeat.Monitor
	onFail func(error)

	mu    sync.Mutex
	conns map[*websocket.Conn]net.Conn
	ended []error // why each connection's reader stopped
}

// NewServer returns a Server; m may be nil (no pings).
func NewServer(m *heartbeat.Monitor, onFail func(error)) *Server {
	return &Server{m: m, onFail: onFail, conns: map[*websocket.Conn]net.Conn{}}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, _ := r.Context().Value(connKey{}).(net.Conn)
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	s.mu.Lock()
	s.conns[ws] = conn
	s.mu.Unlock()
	if s.m != nil && conn != nil {
		p, err := s.m.Start(conn, ws.Ping, s.onFail)
		if err != nil {
			return
		}
		defer p.Stop()
	}
	ctx := context.Background() // a read ends when the connection does
	for {
		typ, msg, err := ws.Read(ctx)
		if err != nil {
			s.mu.Lock()
			delete(s.conns, ws)
			s.ended = append(s.ended, err)
			s.mu.Unlock()
			return
		}
		if err := ws.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// Push writes msg to every client, as a server pushing an event does.
func (s *Server) Push(msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for ws := range s.conns {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, ws.Write(ctx, websocket.MessageBinary, msg))
		cancel()
	}
	return errors.Join(errs...)
}

// Conns returns the TCP connections of the clients being served.
func (s *Server) Conns() []net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var conns []net.Conn
	for _, c := range s.conns {
		conns = append(conns, c)
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
