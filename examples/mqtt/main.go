// Command mqtt talks to an MQTT broker through
// github.com/eclipse/paho.mqtt.golang with a keepalive.Config from
// layers.Within on its connection (ClientOptions.SetDialer, or
// SetCustomOpenConnectionFn to watch each connection end) and MQTT's own
// keepalive (PINGREQ) derived from the same deadline.
//
//	go run ./mqtt -broker tcp://127.0.0.1:1883
//
// paho dials with net.Dialer{Timeout: 30 s}: Go's 15 s, 15 s, 9, so an
// idle connection to a dead broker lasts 2m30s by TCP; its MQTT keepalive
// (30 s, PINGRESP awaited 10 s) ends it sooner, but a QoS 1 publish in
// flight waits on the kernel's retransmissions (about 15 minutes).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/url"
	"os"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/layers"
)

// Dead within 30 s, behind a load balancer that forgets flows idle for 350 s.
const deadline, middleboxIdle = 30 * time.Second, 350 * time.Second

func main() {
	broker := flag.String("broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *broker); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, broker string) error {
	p, err := layers.Within(deadline, middleboxIdle)
	if err != nil {
		return err
	}
	var last net.Conn
	dial := keepalive.WatchDial(p.TCP.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext, logEnd)
	opts := Options(broker, p, func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		last = c // to show what it holds below
		return c, err
	})
	c := mqtt.NewClient(opts)
	if err := wait(ctx, c.Connect()); err != nil {
		return err
	}
	defer c.Disconnect(250)
	if err := wait(ctx, c.Publish("keepalive/hello", 1, false, "ok")); err != nil {
		return err
	}
	got, err := keepalive.Inspect(last)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "MQTT within %v: connection holds %+v; keepalive %v, PINGRESP awaited %v\n",
		deadline, got, time.Duration(opts.KeepAlive)*time.Second, opts.PingTimeout)
	return nil
}

// Options are paho's options for broker with the plan: dial on every
// (re)connection, and MQTT's keepalive from the plan's heartbeat. paho
// sends PINGREQ once nothing has gone either way for KeepAlive and drops
// the connection when PINGRESP has not come PingTimeout later: the
// heartbeat's Interval + Timeout. (The broker drops a client silent for
// 1.5 x KeepAlive.)
func Options(broker string, p layers.Plan, dial func(ctx context.Context, network, address string) (net.Conn, error)) *mqtt.ClientOptions {
	return mqtt.NewClientOptions().AddBroker(broker).
		SetCustomOpenConnectionFn(func(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), o.ConnectTimeout)
			defer cancel()
			return dial(ctx, "tcp", uri.Host) // tcp:// brokers; for TLS wrap the conn here
		}).
		SetKeepAlive(p.Heartbeat.Interval).
		SetPingTimeout(p.Heartbeat.Timeout)
}

// wait waits for t or ctx.
func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// logEnd is the hook keepalive.WatchDial calls as each connection is
// closed: a dead broker is logged as one.
func logEnd(conn net.Conn, cause keepalive.Cause, st keepalive.Status) {
	if cause.PeerDead() {
		slog.Warn("MQTT broker dead", "remote", conn.RemoteAddr(), "cause", cause, "probes", st.Probes, "retransmits", st.Retransmits)
	}
}
