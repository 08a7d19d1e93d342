// Command nethttp serves and fetches over HTTP with one keepalive.Config on
// both ends: the server sets it on every accepted connection, the client on
// every connection its Transport dials and pools. A dead peer is then
// noticed in seconds, on an idle pooled connection (the Transport's read
// loop gets ETIMEDOUT and drops it) and under a request in flight (the
// request fails instead of waiting for tcp_retries2, about 15 minutes).
//
//	go run ./nethttp
package main

import (
	"context"
	"expvar"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"time"

	"github.com/keepalive-go/keepalive"
)

// cfg: a dead peer is dropped 25 s after its last word when idle (Idle 10 s
// + 3 probes 5 s apart), and 25 s after the write (at worst
// cfg.Detection's InFlightMax) when a request is in flight (UserTimeout).
var cfg = keepalive.Config{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3, UserTimeout: 25 * time.Second}

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(out io.Writer) error {
	ctx := context.Background()
	ln, err := cfg.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := newServer()
	go srv.Serve(keepalive.WatchListener(ln, logEnd))
	defer srv.Close()

	client := &http.Client{Transport: newTransport(keepalive.WatchDial(cfg.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext, logEnd))}
	var clientConn net.Conn
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { clientConn = info.Conn }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "GET", "http://"+ln.Addr().String()+"/", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	got, err := keepalive.Inspect(clientConn)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "server: %s", body)
	fmt.Fprintf(out, "client: connection holds %+v\n", got)
	return nil
}

// ended counts connections by why they ended (expvar: /debug/vars).
var ended = expvar.NewMap("keepalive_conns_ended")

// logEnd is the hook keepalive.WatchDial and WatchListener call as each
// connection is closed: a dead peer is logged as one, where the driver
// says EOF or "connection timed out", and every end is counted.
func logEnd(conn net.Conn, cause keepalive.Cause, st keepalive.Status) {
	ended.Add(cause.String(), 1)
	if cause.PeerDead() {
		slog.Warn("peer dead", "remote", conn.RemoteAddr(), "cause", cause, "probes", st.Probes, "retransmits", st.Retransmits)
	}
}

type connKey struct{}

// newServer answers with the keepalive values of the connection the request
// came on. ConnContext hands the accepted connection to the handler.
func newServer() *http.Server {
	return &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			got, err := keepalive.Inspect(r.Context().Value(connKey{}).(net.Conn))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(w, "connection holds %+v\n", got)
		}),
	}
}

// newTransport is http.DefaultTransport's settings with dial for
// DialContext. IdleConnTimeout (90 s) closes idle connections the peer is
// alive for; it is no substitute for keepalive, which also covers requests
// in flight and connections the Transport still thinks are fine.
func newTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = dial
	return t
}
