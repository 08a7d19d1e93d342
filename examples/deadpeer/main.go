// Command deadpeer shows the problem and the fix on this machine, without
// root: it dials a local peer three times (Go's default dialer, the OS
// defaults, and a keepalive.Config), makes the peer stop answering as a dead
// host would, and prints when each connection noticed.
//
//	go run ./examples/deadpeer
//	go run ./examples/deadpeer -idle 5s -interval 2s -count 3 -user-timeout 0
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

func main() { os.Exit(run(os.Stdout, os.Stderr, os.Args[1:])) }

func run(stdout, stderr io.Writer, args []string) int {
	cfg := keepalive.Config{}
	flags := flag.NewFlagSet("deadpeer", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.DurationVar(&cfg.Idle, "idle", 2*time.Second, "Config.Idle")
	flags.DurationVar(&cfg.Interval, "interval", time.Second, "Config.Interval")
	flags.IntVar(&cfg.Count, "count", 3, "Config.Count")
	flags.DurationVar(&cfg.UserTimeout, "user-timeout", 0, "Config.UserTimeout")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	sys, err := keepalive.ReadSystem()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	model := func(c keepalive.Config) keepalive.Detection {
		d, _ := c.Detection(sys) // every Config here is valid
		return d
	}
	goDefault, _ := keepalive.FromNetConfig(net.KeepAliveConfig{Enable: true})
	rows := []struct {
		name      string
		dial      testkit.DialFunc
		predicted time.Duration
	}{
		{"net.Dialer{} (Go's 15s/15s/9)", (&net.Dialer{}).DialContext, model(goDefault).Idle},
		{"keepalive.Config{} (OS defaults)", keepalive.Config{}.Dial, model(keepalive.Config{}).Idle},
		{fmt.Sprintf("keepalive.Config%+v", cfg), cfg.Dial, model(cfg).Idle},
	}
	// Wait for the Config's worst case and a little more; the others would
	// take minutes or hours.
	bound := model(cfg).IdleMax + time.Second
	fmt.Fprintf(stdout, "Dialing a local peer 3 times, then making it go silent like a dead host. Waiting up to %v.\n\n", bound.Round(time.Millisecond))

	results := make([]string, len(rows))
	var wg sync.WaitGroup
	for i, r := range rows {
		wg.Go(func() { results[i] = measure(r.dial, r.predicted, bound) })
	}
	wg.Wait()
	fmt.Fprintf(stdout, "%-62s %-12s %s\n", "connection", "predicted", "measured")
	for i, r := range rows {
		fmt.Fprintf(stdout, "%-62s %-12v %s\n", r.name, r.predicted, results[i])
	}
	return 0
}

// measure dials a fresh local peer, silences it and waits for the read to fail.
func measure(dial testkit.DialFunc, predicted, bound time.Duration) string {
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		return "error: " + err.Error()
	}
	defer ln.Close()
	start := time.Now()
	client, err := dial(context.Background(), "tcp4", ln.Addr().String())
	if err != nil {
		return "error: " + err.Error()
	}
	defer client.Close()
	peer, err := ln.Accept()
	if err != nil {
		return "error: " + err.Error()
	}
	defer peer.Close()
	if err := keepalivetest.Silence(peer); err != nil {
		return "error: " + err.Error()
	}
	took, err := testkit.ReadFailure(client, start, bound)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Sprintf("still ESTABLISHED after %v", took.Round(time.Millisecond))
	}
	// Why it ended, from the kernel's state: the error alone can be
	// ETIMEDOUT, a soft error such as EHOSTUNREACH, or EOF.
	cause, st, cerr := keepalive.CauseOf(client, err)
	if cerr != nil {
		return fmt.Sprintf("failed after %v: %v", took.Round(time.Millisecond), err)
	}
	if cause == keepalive.CauseKeepAlive {
		return fmt.Sprintf("failed after %v: %v after %d probes (%.3fx predicted; read: %v)",
			took.Round(time.Millisecond), cause, st.Probes, float64(took)/float64(predicted), short(err))
	}
	return fmt.Sprintf("failed after %v: %v (read: %v)", took.Round(time.Millisecond), cause, short(err))
}

// short is err's errno, if it has one, without the addresses.
func short(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}
