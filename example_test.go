//go:build linux

// The examples show the values of a Linux host: other systems count and
// default differently (see the package's platform table).

package keepalive_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/keepalive-go/keepalive"
)

func ExampleConfig_DetectionTime() {
	cfg := keepalive.Config{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3}
	fmt.Println("idle peer:", cfg.DetectionTime())
	fmt.Println("worst case:", cfg.WorstCaseDetectionTime().Round(time.Millisecond))

	cfg.UserTimeout = 12 * time.Second // caps probing too: Idle + ceil((12-10)/5)*5
	fmt.Println("with UserTimeout:", cfg.DetectionTime())
	lo, hi := cfg.InFlightDetectionTime()
	fmt.Println("data in flight:", lo, "to", hi.Round(time.Millisecond), "after the first retransmission")
	// Output:
	// idle peer: 25s
	// worst case: 28.215s
	// with UserTimeout: 15s
	// data in flight: 12s to 13.534s after the first retransmission
}

func ExampleWithin() {
	// Detect a dead peer within 30 s, behind a load balancer that forgets
	// idle flows after 350 s.
	cfg, err := keepalive.Within(30*time.Second, 350*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", cfg)
	fmt.Println(cfg.WorstCaseDetectionTime() <= 30*time.Second)
	// Output:
	// {Idle:11s Interval:5s Count:3 UserTimeout:26s}
	// true
}

func ExampleConfig_Validate() {
	err := keepalive.Config{Idle: 10 * time.Hour}.Validate()
	fmt.Println(err)
	// Output:
	// keepalive: invalid Config: Idle 10h0m0s outside 1s..32767s (TCP_KEEPIDLE counts whole seconds, rounded up); 0 keeps the system value: invalid argument
}

func ExampleConfig_Dialer() {
	cfg := keepalive.Config{Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3, UserTimeout: 30 * time.Second}
	client := &http.Client{Transport: &http.Transport{
		DialContext: cfg.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
	_ = client // every connection the client opens detects a dead server within 30 s
	d := cfg.Dialer(nil)
	fmt.Println("Go's own keepalive off:", d.KeepAlive < 0, "idle detection:", cfg.DetectionTime())
	// Output:
	// Go's own keepalive off: true idle detection: 30s
}

func ExampleConfig_Listen() {
	cfg := keepalive.Config{Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}
	ln, err := cfg.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	// A connection the Config cannot be applied to is closed and reported
	// here; the server goes on.
	ln.(*keepalive.Listener).OnError(func(conn net.Conn, err error) {
		log.Printf("dropped %v: %v", conn.RemoteAddr(), err)
	})
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	defer srv.Close()

	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, "dropped:", ln.(*keepalive.Listener).Dropped())
	// Output:
	// 404 dropped: 0
}

func ExampleConfig_Apply() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String()) // a connection made elsewhere
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	cfg := keepalive.Config{Idle: 20 * time.Second, Interval: 5 * time.Second, Count: 4}
	if err := cfg.Apply(conn); err != nil {
		log.Fatal(err)
	}
	got, err := keepalive.Inspect(conn)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", got)
	// Output:
	// {Idle:20s Interval:5s Count:4 UserTimeout:0s}
}
