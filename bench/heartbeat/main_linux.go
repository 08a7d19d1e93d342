// Command heartbeat measures a heartbeat.Monitor pinging many loopback
// connections: goroutines, Go heap per connection, CPU, and how late pings
// start (the slack in Heartbeat.Detection).
//
//	go run ./bench/heartbeat [-n 10000] [-interval 1s] [-timeout 1s] [-for 10s]
//
// The peers live in a second process (this program, started again), which
// answers each byte with the same byte, so this process holds only the
// dialed ends, the Monitor and the pings. Watches are started spread over
// one interval, as connections opened over time would be.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/keepalive-go/keepalive/heartbeat"
)

const envPeer = "KEEPALIVE_HEARTBEAT_PEER"

func main() {
	if os.Getenv(envPeer) != "" {
		fmt.Fprintln(os.Stderr, servePeer(os.Stdout))
		os.Exit(1)
	}
	n := flag.Int("n", 10000, "connections")
	interval := flag.Duration("interval", time.Second, "Heartbeat.Interval")
	timeout := flag.Duration("timeout", time.Second, "Heartbeat.Timeout")
	window := flag.Duration("for", 10*time.Second, "measurement window, after one interval of warm-up")
	flag.Parse()
	if err := run(os.Stdout, *n, heartbeat.Config{Interval: *interval, Timeout: *timeout}, *window); err != nil {
		fmt.Fprintln(os.Stderr, "heartbeat:", err)
		os.Exit(1)
	}
}

// result is one run's figures.
type result struct {
	n                      int
	goroutinesIdle         int // after dialing, before the Monitor
	goroutinesMax          int // sampled every 10 ms during the window
	heapIdle, heapWatched  uint64
	cpu                    time.Duration // user + system during the window
	window                 time.Duration
	pings, failures        int64
	lateP50, lateP99, late time.Duration // ping start past end of previous + Interval
	slowest                time.Duration // one ping's round trip
}

func run(w io.Writer, n int, h heartbeat.Config, window time.Duration) error {
	if err := raiseNoFile(uint64(n) + 512); err != nil {
		return err
	}
	peer := exec.Command(os.Args[0])
	peer.Env = append(os.Environ(), envPeer+"=1")
	peer.Stderr = os.Stderr
	out, err := peer.StdoutPipe()
	if err != nil {
		return err
	}
	if err := peer.Start(); err != nil {
		return err
	}
	defer func() { peer.Process.Kill(); peer.Wait() }()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	addr = addr[:len(addr)-1]

	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	d := net.Dialer{KeepAlive: -1}
	for range n {
		c, err := d.Dial("tcp4", addr)
		if err != nil {
			return fmt.Errorf("dial %d: %w", len(conns), err)
		}
		conns = append(conns, c)
	}
	var r result
	r.n, r.window = n, window
	r.goroutinesIdle, r.heapIdle = runtime.NumGoroutine(), heapAfterGC()

	m, err := heartbeat.NewMonitor(h)
	if err != nil {
		return err
	}
	var (
		measuring atomic.Bool
		pings     atomic.Int64
		fails     atomic.Int64
		mu        sync.Mutex
		lates     []time.Duration
		slowest   time.Duration
	)
	for i, c := range conns {
		var lastEnd time.Time
		_, err := m.Start(c, func(ctx context.Context) error {
			start := time.Now()
			dl, _ := ctx.Deadline()
			c.SetDeadline(dl)
			var b = [1]byte{'p'}
			_, err := c.Write(b[:])
			if err == nil {
				_, err = io.ReadFull(c, b[:])
			}
			end := time.Now()
			if measuring.Load() && !lastEnd.IsZero() {
				pings.Add(1)
				mu.Lock()
				lates = append(lates, start.Sub(lastEnd)-h.Interval)
				slowest = max(slowest, end.Sub(start))
				mu.Unlock()
			}
			lastEnd = end
			return err
		}, func(err error) { fails.Add(1) })
		if err != nil {
			return err
		}
		if i%100 == 99 { // spread the first pings over one interval
			time.Sleep(h.Interval * 100 / time.Duration(n))
		}
	}
	time.Sleep(h.Interval + h.Timeout) // every connection has pinged once
	r.heapWatched = heapAfterGC()      // before lates grows
	stop := make(chan struct{})
	sampled := make(chan int)
	go func() {
		most := 0
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				most = max(most, runtime.NumGoroutine()-1) // minus this sampler
			case <-stop:
				sampled <- most
				return
			}
		}
	}()
	cpu0 := cpuTime()
	measuring.Store(true)
	time.Sleep(window)
	measuring.Store(false)
	r.cpu = cpuTime() - cpu0
	close(stop)
	r.goroutinesMax = <-sampled
	r.pings, r.failures = pings.Load(), fails.Load()
	if err := m.Close(); err != nil {
		return err
	}
	mu.Lock()
	slices.Sort(lates)
	if len(lates) > 0 {
		r.lateP50, r.lateP99, r.late = lates[len(lates)/2], lates[len(lates)*99/100], lates[len(lates)-1]
	}
	r.slowest = slowest
	mu.Unlock()
	r.print(w, h)
	if r.failures > 0 {
		return fmt.Errorf("%d false failures on live peers", r.failures)
	}
	return nil
}

func (r result) print(w io.Writer, h heartbeat.Config) {
	perConn := (float64(r.heapWatched) - float64(r.heapIdle)) / float64(r.n)
	cores := r.cpu.Seconds() / r.window.Seconds()
	fmt.Fprintf(w, "%d connections, heartbeat.Config{Interval: %v, Timeout: %v}, measured for %v (GOMAXPROCS %d):\n\n", r.n, h.Interval, h.Timeout, r.window, runtime.GOMAXPROCS(0))
	fmt.Fprintln(w, "| goroutines idle / watched (max) | heap per connection | CPU (cores) | CPU per ping | pings/s | start late p50 / p99 / max | slowest ping | false failures |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	fmt.Fprintf(w, "| %d / %d | %.0f B | %.3f | %.1f µs | %.0f | %v / %v / %v | %v | %d |\n",
		r.goroutinesIdle, r.goroutinesMax, perConn, cores,
		float64(r.cpu.Microseconds())/float64(max(r.pings, 1)), float64(r.pings)/r.window.Seconds(),
		r.lateP50.Round(time.Microsecond), r.lateP99.Round(time.Microsecond), r.late.Round(time.Microsecond),
		r.slowest.Round(time.Microsecond), r.failures)
}

func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseNoFile raises RLIMIT_NOFILE's soft limit to want, up to the hard one.
func raiseNoFile(want uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if l.Cur < want {
		l.Cur = min(want, l.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return err
		}
	}
	if l.Cur < want {
		return fmt.Errorf("RLIMIT_NOFILE %d is below %d; raise the hard limit or lower -n", l.Cur, want)
	}
	return nil
}

// servePeer accepts connections and answers each byte with the same byte.
func servePeer(w io.Writer) error {
	var l syscall.Rlimit // as many descriptors as the hard limit allows
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintln(w, ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			var b [1]byte
			for {
				if _, err := c.Read(b[:]); err != nil {
					return
				}
				if _, err := c.Write(b[:]); err != nil {
					return
				}
			}
		}()
	}
}
