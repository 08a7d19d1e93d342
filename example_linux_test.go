// The examples show the values of a Linux host: other systems count and
// default differently (see docs/platforms.md).

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

func ExampleConfig_Detection() {
	cfg := keepalive.Config{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3, UserTimeout: 25 * time.Second}
	d, err := cfg.Detection(keepalive.System{}) // every field set: the system's values do not matter
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("idle:", d.Idle, "at the latest", d.IdleMax.Round(time.Millisecond))
	fmt.Println("in flight:", d.InFlightMin, "to", d.InFlightMax.Round(time.Millisecond), "after a write")
	fmt.Println("peer stopped reading:", d.ZeroWindowMin, "to", d.ZeroWindowMax.Round(time.Millisecond))
	// Output:
	// idle: 25s at the latest 28.215s
	// in flight: 25s to 56.586s after a write
	// peer stopped reading: 25s to 29.322s
}

func ExampleReadSystem() {
	sys, err := keepalive.ReadSystem() // reads the sysctls: Linux 7200 s, 75 s, 9 unless changed
	if err != nil {
		log.Fatal(err)
	}
	d, err := keepalive.Config{}.Detection(sys)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Config{} on this host finds a dead idle peer after", d.Idle)
}

func ExampleWithin() {
	// Detect a dead peer within 30 s, behind a load balancer that forgets
	// idle flows after 350 s.
	cfg, err := keepalive.Within(30*time.Second, 350*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", cfg)
	d, _ := cfg.Detection(keepalive.System{})
	fmt.Println(d.IdleMax <= 30*time.Second, d.InFlightMax <= 30*time.Second, d.ZeroWindowMax <= 30*time.Second)
	// Output:
	// {Idle:6s Interval:2s Count:3 UserTimeout:12s}
	// true true true
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
	fmt.Println("Go's own keepalive off:", cfg.Dialer(nil).KeepAlive < 0)
	// Output:
	// Go's own keepalive off: true
}

func ExampleConfig_Listen() {
	cfg := keepalive.Config{Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}
	ln, err := cfg.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	// A connection the Config cannot be applied to is closed and reported
	// here; the server goes on.
	ln.OnError(func(conn net.Conn, err error) {
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
	fmt.Println(resp.StatusCode, "dropped:", ln.Dropped())
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

func ExampleConfig_Dial() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	cfg := keepalive.Config{Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3, UserTimeout: 11 * time.Second}
	conn, err := cfg.Dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	got, _ := keepalive.Inspect(conn)
	fmt.Printf("%+v\n", got)
	// Output:
	// {Idle:5s Interval:2s Count:3 UserTimeout:11s}
}

func ExampleConfig_WrapListener() {
	inner, err := net.Listen("tcp", "127.0.0.1:0") // Go's own keepalive (15 s, 15 s, 9) is on here
	if err != nil {
		log.Fatal(err)
	}
	ln := keepalive.Config{Idle: 20 * time.Second, Interval: 4 * time.Second, Count: 2}.WrapListener(inner)
	defer ln.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			time.Sleep(time.Second)
		}
	}()
	conn, err := ln.Accept()
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	got, _ := keepalive.Inspect(conn)
	fmt.Printf("%+v\n", got)
	// Output:
	// {Idle:20s Interval:4s Count:2 UserTimeout:0s}
}

func ExampleInspect() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String()) // Go's net.Dialer sets its own keepalive
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	got, err := keepalive.Inspect(conn)
	fmt.Printf("%+v %v\n", got, err)
	// Output:
	// {Idle:15s Interval:15s Count:9 UserTimeout:0s} <nil>
}

func ExampleInspectRawConn() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	conn, err := keepalive.Config{Idle: 9 * time.Second, Interval: 3 * time.Second, Count: 2}.Dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	f, err := conn.(*net.TCPConn).File() // a duplicate, as one received from another process
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		log.Fatal(err)
	}
	got, err := keepalive.InspectRawConn(rc)
	fmt.Printf("%+v %v\n", got.Count, err)
	// Output:
	// 2 <nil>
}

func ExampleConfig_Control() {
	cfg := keepalive.Config{Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}
	// KeepAlive: -1 stops Go from overwriting what Control set.
	d := &net.Dialer{Control: cfg.Control, KeepAlive: -1}
	_ = d // cfg.Dialer(nil) builds the same
	lc := net.ListenConfig{Control: cfg.Control, KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	fmt.Println(ln.Addr().Network())
	// Output:
	// tcp
}

func ExampleConfig_Rounded() {
	cfg := keepalive.Config{Idle: 1500 * time.Millisecond, UserTimeout: 2500 * time.Microsecond}
	fmt.Printf("%+v\n", cfg.Rounded()) // Linux counts Idle in seconds, UserTimeout in milliseconds
	// Output:
	// {Idle:2s Interval:0s Count:0 UserTimeout:3ms}
}

func ExampleConfig_NetConfig() {
	k, ok := keepalive.Config{Idle: 30 * time.Second, Count: 4}.NetConfig()
	fmt.Printf("%+v %v\n", k, ok)
	// Output:
	// {Enable:true Idle:30s Interval:-1ns Count:4} true
}

func ExampleFromNetConfig() {
	c, ok := keepalive.FromNetConfig(net.KeepAliveConfig{Enable: true, Idle: 45 * time.Second})
	fmt.Printf("%+v %v\n", c, ok) // zero in net.KeepAliveConfig is Go's default
	// Output:
	// {Idle:45s Interval:15s Count:9 UserTimeout:0s} true
}

// After a failed Read, CauseOf says why, from the kernel and the error.
func ExampleCauseOf() {
	cfg := keepalive.Config{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3, UserTimeout: 25 * time.Second}
	conn, err := cfg.Dial(context.Background(), "tcp", "db.internal:5432")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	_, rerr := conn.Read(make([]byte, 512))
	cause, st, err := keepalive.CauseOf(conn, rerr)
	if err != nil {
		log.Fatal(err)
	}
	if cause.PeerDead() {
		log.Printf("peer dead (%v) after %d probes: %v", cause, st.Probes, rerr) // not just "EOF"
	}
}

// A driver that closes its connections itself tells the hook why each
// ended, before the descriptor goes.
func ExampleWatchDial() {
	cfg := keepalive.Config{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3, UserTimeout: 25 * time.Second}
	dial := keepalive.WatchDial(cfg.Dialer(nil).DialContext, func(conn net.Conn, cause keepalive.Cause, st keepalive.Status) {
		if cause.PeerDead() {
			log.Printf("%v: %v (%v)", conn.RemoteAddr(), cause, st)
		}
	})
	client := &http.Client{Transport: &http.Transport{DialContext: dial}}
	_ = client
}

// StatusOf is the kernel's view of a live connection: what a server
// exports as "connections being probed".
func ExampleStatusOf() {
	conn, err := net.Dial("tcp", "db.internal:5432")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	st, err := keepalive.StatusOf(conn)
	if err != nil {
		log.Fatal(err)
	}
	if st.Has(keepalive.FieldProbes) && st.Probes > 0 {
		log.Printf("%d keepalive probes unanswered; the kernel gives up in %v", st.Probes, st.GiveUp)
	}
}
