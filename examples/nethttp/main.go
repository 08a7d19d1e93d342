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
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"time"

	"github.com/keepalive-go/keepalive"
)

// cfg: a dead peer is dropped 25 s after its last word when idle (Idle 10 s
// + 3 probes 5 s apart), and 25 s after the first retransmission when a
// request is in flight (UserTimeout).
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
	go srv.Serve(ln)
	defer srv.Close()

	client := &http.Client{Transport: newTransport(cfg.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext)}
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
