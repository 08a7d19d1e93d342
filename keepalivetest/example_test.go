package keepalivetest_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

var t = &testing.T{} // stands for the test's own *testing.T in the examples

// A connection whose peer died is dropped within the Config's IdleMax.
func ExampleSilence() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	cfg := keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 2}
	client, _ := cfg.Dial(context.Background(), "tcp", ln.Addr().String())
	defer client.Close()
	peer, _ := ln.Accept()
	defer peer.Close()
	if err := keepalivetest.Silence(peer); err != nil {
		t.Fatal(err) // errors.Is(err, keepalivetest.ErrRefused): not root; see InNetNS
	}
	_, err := client.Read(make([]byte, 1)) // ETIMEDOUT after about 3 s
	_ = err
}

// A test that needs no root: everything after InNetNS runs in a user and
// network namespace of its own.
func ExampleInNetNS() {
	if !keepalivetest.InNetNS(t, nil) {
		return // the run in the namespace has passed, failed or skipped
	}
	// ... Silence, Proxy, as in the other examples.
}

// An http.Client notices that the server's host died, on the connection
// its pool holds, within the Config's deadline.
func ExampleProxy() {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()

	p, _ := keepalivetest.Proxy("tcp", ln.Addr().String())
	defer p.Close()
	cfg := keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 2, UserTimeout: 3 * time.Second}
	client := &http.Client{Transport: &http.Transport{DialContext: cfg.Dialer(nil).DialContext}}
	get := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+p.Addr().String(), nil)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	_ = get(context.Background()) // a pooled connection
	p.FailAll(keepalivetest.Silent)
	keepalivetest.EndsWithin(t, 5*time.Second, nil, get) // fails t if the GET hangs
}

// Silence the next connection a driver's pool dials, as it is accepted.
func ExampleListener_FailNext() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	l, _ := keepalivetest.NewListener(ln)
	defer l.Close()
	l.FailNext(keepalivetest.Silent)
	go func() {
		for {
			c, err := l.Accept() // the first is silent already
			if err != nil {
				return
			}
			go io.Copy(c, c)
		}
	}()
}

// A connection ends by itself, or the report says why not.
func ExampleEndsWithin() {
	var client net.Conn // the code under test's connection to a silenced peer
	keepalivetest.EndsWithin(t, 4*time.Second, client, nil)
	// On failure: "still blocked after 4s (deadline 4s); the code never
	// noticed: TCP: established keepalive=false ... (SO_KEEPALIVE off: an
	// idle connection is never probed)"
}

// A program (not a test) that silences its own peers without root.
func ExampleRerun() {
	var peer net.Conn // a connection the program accepted
	if err := keepalivetest.Silence(peer); errors.Is(err, keepalivetest.ErrRefused) {
		code, err := keepalivetest.Rerun(os.Args[1:]...)
		if err != nil {
			os.Exit(3) // err names the sysctl or policy that forbids user namespaces
		}
		os.Exit(code)
	}
}

// A Listener of the test's own: the code under test dials it, and the test
// fails the connections it accepted.
func ExampleNewListener() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	l, err := keepalivetest.NewListener(ln)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c) // the test's server
		}
	}()
	// ... the code under test connects to l.Addr() ...
	if err := l.FailAll(keepalivetest.Silent); err != nil { // every host it reached dies
		log.Fatal(err)
	}
}

// One connection dies; the others live on.
func ExampleConn_Fail() {
	var l *keepalivetest.Listener // from NewListener or Proxy
	if conns := l.Conns(); len(conns) > 0 {
		if err := conns[0].Fail(keepalivetest.Hung); err != nil { // its process stops reading
			log.Fatal(err)
		}
	}
}
