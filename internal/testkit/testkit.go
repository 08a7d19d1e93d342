// Package testkit holds what the project's tests share and users need not:
// loopback connection pairs, the CI skip policy, Wine detection and
// TCP_INFO. The dead peer and the namespace runner are public, in
// keepalivetest.
package testkit

import (
	"context"
	"net"
	"os"
	"testing"
	"time"
)

// Loopback is a loopback address to listen on.
type Loopback struct {
	Network string // "tcp4" or "tcp6"
	Addr    string // with port 0
}

// Loopbacks returns the IPv4 loopback and, where the host has one, the IPv6
// loopback; without IPv6 it logs that the IPv6 cases are skipped.
func Loopbacks(t testing.TB) []Loopback {
	lbs := []Loopback{{"tcp4", "127.0.0.1:0"}}
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln.Close()
		lbs = append(lbs, Loopback{"tcp6", "[::1]:0"})
	} else if os.Getenv("CI") != "" {
		t.Fatalf("this host has no ::1 (%v): under CI the IPv6 cases must run", err)
	} else {
		t.Logf("skipping IPv6 cases: this host has no ::1 (%v)", err)
	}
	return lbs
}

// DialFunc dials like net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Pair listens on lb with ln (if ln is nil, a listener that leaves
// keepalive alone: net.ListenConfig{KeepAlive: -1}), dials it with dial and
// returns both ends. Everything is closed when the test ends.
func Pair(t testing.TB, lb Loopback, ln net.Listener, dial DialFunc) (client, server net.Conn) {
	t.Helper()
	if ln == nil {
		var err error
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err = lc.Listen(context.Background(), lb.Network, lb.Addr)
		if err != nil {
			t.Fatalf("listen %s %s: %v", lb.Network, lb.Addr, err)
		}
	}
	t.Cleanup(func() { ln.Close() })
	type result struct {
		c   net.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		accepted <- result{c, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, err := dial(ctx, lb.Network, ln.Addr().String())
	if err != nil {
		t.Fatalf("dial %s %s: %v", lb.Network, ln.Addr(), err)
	}
	t.Cleanup(func() { client.Close() })
	select {
	case r := <-accepted:
		if r.err != nil {
			t.Fatalf("accept: %v", r.err)
		}
		t.Cleanup(func() { r.c.Close() })
		return client, r.c
	case <-time.After(5 * time.Second):
		t.Fatal("accept: nothing within 5s")
	}
	return nil, nil
}

// ReadFailure blocks reading conn until it fails or bound has passed since
// start, and returns how long after start it returned and the error. A
// connection that is still open at the bound returns an error satisfying
// errors.Is(err, os.ErrDeadlineExceeded).
func ReadFailure(conn net.Conn, start time.Time, bound time.Duration) (time.Duration, error) {
	if err := conn.SetReadDeadline(start.Add(bound)); err != nil {
		return 0, err
	}
	var b [64]byte
	for {
		_, err := conn.Read(b[:])
		if err != nil {
			return time.Since(start), err
		}
	}
}

// Skip skips the test with msg where a tool or privilege is missing, but
// fails it under CI (CI set in the environment), which must run every test:
// there, a skip would pass for a test that never ran.
func Skip(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (under CI this test must run: .ci/run installs and runs what it needs)")
	}
	t.Skip(msg)
}

// SkipUnderWine skips the test, naming Wine and why, where it runs under
// Wine (see Wine). Unlike Skip it skips under CI too: what Wine does not
// emulate is no missing tool that CI could install.
func SkipUnderWine(t testing.TB, why string) {
	t.Helper()
	if v := Wine(); v != "" {
		t.Skipf("skipping under Wine %s: %s", v, why)
	}
}
