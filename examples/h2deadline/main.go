// Command h2deadline serves and calls HTTP/2 without TLS (h2c) with every
// layer set from one deadline by layers.Within: its TCP Config on both
// ends, and its HTTP/2 pings on the Transport and the Server. TCP finds a
// dead host; the pings also find a hung server process, and a dead server
// behind an L4 proxy (an L7 proxy answers HTTP/2 pings itself).
//
//	go run ./h2deadline
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

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
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true) // with TLS: SetHTTP2(true)

	ln, err := p.TCP.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		Protocols: &h2c,
		HTTP2:     &p.HTTP2Server,
	}
	go srv.Serve(ln)
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{
		DialContext: p.TCP.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		Protocols:   &h2c,
		HTTP2:       &p.HTTP2Transport,
	}}
	resp, err := client.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s; within %v behind a %v middlebox:\n", resp.Proto, deadline, middleboxIdle)
	fmt.Fprintf(out, "TCP %+v: dead host dropped within %v\n", p.TCP, p.TCPDetection.IdleMax.Round(time.Millisecond))
	fmt.Fprintf(out, "HTTP/2 ping after %v without a frame, answer within %v; stalled write %v: hung or dead server within %v\n",
		p.HTTP2Transport.SendPingTimeout, p.HTTP2Transport.PingTimeout, p.HTTP2Transport.WriteByteTimeout, p.HTTP2Max.Round(time.Millisecond))
	return nil
}
