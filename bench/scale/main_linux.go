// Command scale opens many concurrent loopback connections through
// Config.Listen and Config.Dial, verifies every one of them (both ends) with
// Inspect, and reports the time and the Go heap per connection next to the
// same run with the standard library (net.ListenConfig and net.Dialer with
// the same values in KeepAliveConfig). It also checks that the library
// leaves no goroutine behind per connection, and no heap object either (a
// runtime timer would be one).
//
//	go run ./bench/scale [-n 10000] [-rounds 3] [-addrs 4]
//
// The other ends live in a second process (this program, started again as
// a plain peer), so each process needs one descriptor per connection: it
// raises RLIMIT_NOFILE (the hard limit too, where it may) and says what it
// got. The dialed ends are measured in one phase (the peer accepts), the
// accepted ends in another (the peer dials). The connections are spread over
// -addrs loopback addresses 127.0.0.x so ephemeral ports never run short,
// and closed with SO_LINGER 0 so nothing lingers in TIME_WAIT between rounds.
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keepalive-go/keepalive"
)

// cfg has values no default has, so Inspect cannot pass by accident. No
// UserTimeout, so the standard library can set the same options.
var cfg = keepalive.Config{Idle: 41 * time.Second, Interval: 13 * time.Second, Count: 6}

type variant struct {
	name   string
	listen func(ctx context.Context, network, addr string) (net.Listener, error)
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
}

var variants = []variant{
	{"keepalive (Config.Listen, Config.Dial)", func(ctx context.Context, network, addr string) (net.Listener, error) {
		return cfg.Listen(ctx, network, addr)
	}, cfg.Dial},
	{"std (net.ListenConfig, net.Dialer with KeepAliveConfig)", func(ctx context.Context, network, addr string) (net.Listener, error) {
		lc := net.ListenConfig{KeepAliveConfig: stdCfg}
		return lc.Listen(ctx, network, addr)
	}, (&net.Dialer{KeepAliveConfig: stdCfg}).DialContext},
}

var stdCfg = net.KeepAliveConfig{Enable: true, Idle: cfg.Idle, Interval: cfg.Interval, Count: cfg.Count}

// stats is one phase of one round of one variant.
type stats struct {
	setup       time.Duration // dialing or accepting all n
	inspect     time.Duration // Inspect on every connection
	heapPerConn float64       // live Go heap bytes per connection, after GC, all open
	objsPerConn float64       // live heap objects per connection
	goroutines  int           // goroutines while all are open, minus before
}

const envPeer = "KEEPALIVE_SCALE_PEER"

func main() {
	if os.Getenv(envPeer) != "" {
		if err := servePeer(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "scale peer:", err)
			os.Exit(1)
		}
		return
	}
	n := flag.Int("n", 10000, "concurrent connections")
	rounds := flag.Int("rounds", 3, "rounds per variant, alternating; medians are reported")
	addrs := flag.Int("addrs", 4, "loopback addresses 127.0.0.1 .. 127.0.0.N to spread the connections over")
	flag.Parse()
	if err := run(os.Stdout, *n, *rounds, *addrs); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

var phases = []string{"dialed", "accepted"}

func run(w io.Writer, n, rounds, nAddrs int) error {
	want := uint64(n + 256)
	soft, hard, err := raiseNoFile(want)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "RLIMIT_NOFILE: soft %d, hard %d (wanted %d for %d connections, one end per process).\n", soft, hard, want, n)
	if need := uint64(n + 64); soft < need {
		return fmt.Errorf("RLIMIT_NOFILE %d is too low for %d connections (needs about %d); raise the hard limit or lower -n", soft, n, need)
	}
	var addrs []string
	for i := 1; i <= nAddrs; i++ {
		addrs = append(addrs, fmt.Sprintf("127.0.0.%d:0", i))
	}
	p, err := startPeer()
	if err != nil {
		return err
	}
	defer p.stop()
	// results[variant][phase] holds one stats per round.
	results := make([][2][]stats, len(variants))
	for r := range rounds {
		// Alternate which variant goes first, so neither always runs on a
		// freshly warmed (or freshly cluttered) kernel and heap.
		order := []int{0, 1}
		if r%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			v := variants[i]
			for ph := range phases {
				s, err := once(p, v, ph == 0, n, addrs)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", v.name, phases[ph], err)
				}
				results[i][ph] = append(results[i][ph], s)
			}
		}
	}
	fmt.Fprintf(w, "\n%d concurrent loopback connections over %d addresses, %d rounds per variant (alternating), medians; GOMAXPROCS %d. Every connection verified with Inspect.\n\n",
		n, nAddrs, rounds, runtime.GOMAXPROCS(0))
	fmt.Fprintln(w, "| variant | ends | open all (range over rounds) | per connection | Inspect per connection | live Go heap per connection | heap objects per connection | goroutines left per connection |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	med := make([][2]stats, len(variants))
	for i, v := range variants {
		for ph := range phases {
			m := median(results[i][ph])
			med[i][ph] = m
			lo, hi := spread(results[i][ph])
			fmt.Fprintf(w, "| %s | %s | %v (%v .. %v) | %v | %v | %.0f B | %.2f | %.4f |\n", v.name, phases[ph],
				m.setup.Round(time.Millisecond), lo.Round(time.Millisecond), hi.Round(time.Millisecond),
				(m.setup / time.Duration(n)).Round(10*time.Nanosecond),
				(m.inspect / time.Duration(n)).Round(10*time.Nanosecond),
				m.heapPerConn, m.objsPerConn, float64(m.goroutines)/float64(n))
		}
	}
	fmt.Fprintln(w)
	var extra []string
	for ph := range phases {
		k, s := med[0][ph], med[1][ph]
		fmt.Fprintf(w, "%s, keepalive / std: time to open %.3f, Go heap per connection %.3f (%+.0f B), heap objects per connection %+.2f.\n",
			phases[ph], float64(k.setup)/float64(s.setup), k.heapPerConn/s.heapPerConn, k.heapPerConn-s.heapPerConn, k.objsPerConn-s.objsPerConn)
		// Anything the library kept per connection (a timer, a goroutine's
		// stack, a record) would be at least one more live object each.
		if d := k.objsPerConn - s.objsPerConn; d >= 0.5 {
			extra = append(extra, fmt.Sprintf("%s: %+.2f live heap objects per connection", phases[ph], d))
		}
	}
	if len(extra) > 0 {
		return fmt.Errorf("the library keeps something per connection that the standard library does not: %s", strings.Join(extra, "; "))
	}
	return nil
}

// raiseNoFile raises RLIMIT_NOFILE to want, the hard limit too where this
// process may, else as far as the hard limit goes.
func raiseNoFile(want uint64) (soft, hard uint64, err error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, err
	}
	if l.Cur < want {
		r := syscall.Rlimit{Cur: want, Max: max(l.Max, want)}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			r = syscall.Rlimit{Cur: l.Max, Max: l.Max}
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
				return 0, 0, err
			}
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, err
	}
	return l.Cur, l.Max, nil
}

// once opens n connections with v, measures, verifies and closes them. With
// dial, this process dials them (v.dial) and the peer accepts; otherwise
// this process listens (v.listen) and the peer dials.
func once(p *peer, v variant, dial bool, n int, addrs []string) (s stats, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conns := make([]net.Conn, n)
	var lns []net.Listener
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
		}
		for _, ln := range lns {
			ln.Close()
		}
		if perr := p.do("close"); perr != nil && err == nil {
			err = perr
		}
	}()

	var peerAddrs []string
	if dial {
		reply, err := p.call(fmt.Sprintf("listen %d %s", n, strings.Join(addrs, " ")))
		if err != nil {
			return s, err
		}
		peerAddrs = strings.Fields(reply)
	} else {
		for _, a := range addrs {
			ln, err := v.listen(ctx, "tcp4", a)
			if err != nil {
				return s, err
			}
			lns = append(lns, ln)
			peerAddrs = append(peerAddrs, ln.Addr().String())
		}
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutinesBefore := runtime.NumGoroutine()

	start := time.Now()
	var fill func() error
	if dial {
		fill = func() error { return dialAll(ctx, v.dial, conns, peerAddrs) }
	} else {
		fill = func() error {
			actx, stop := context.WithCancel(ctx)
			defer stop()
			acc := make(chan error, 1)
			go func() { acc <- acceptAll(actx, lns, conns) }()
			if err := p.do(fmt.Sprintf("dial %d %s", n, strings.Join(peerAddrs, " "))); err != nil {
				stop() // unblocks Accept
				<-acc
				return err
			}
			return <-acc
		}
	}
	if err := fill(); err != nil {
		return s, err
	}
	s.setup = time.Since(start)

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	s.goroutines = runtime.NumGoroutine() - goroutinesBefore
	s.heapPerConn = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n)
	s.objsPerConn = (float64(after.HeapObjects) - float64(before.HeapObjects)) / float64(n)

	want := cfg.Rounded()
	start = time.Now()
	for i, c := range conns {
		got, err := keepalive.Inspect(c)
		if err != nil {
			return s, fmt.Errorf("inspecting %v: %w", c.LocalAddr(), err)
		}
		if got != want {
			return s, fmt.Errorf("connection %d (%v) holds %+v, want %+v", i, c.LocalAddr(), got, want)
		}
	}
	s.inspect = time.Since(start)
	// A few runtime goroutines may come and go; one per connection would be n.
	if s.goroutines > 2 {
		return s, fmt.Errorf("%d goroutines more with %d connections open than before", s.goroutines, n)
	}
	return s, nil
}

// dialAll fills conns with connections dialed by 8 goroutines, connection
// i to addrs[i%len(addrs)]. The goroutines have ended when it returns.
func dialAll(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), conns []net.Conn, addrs []string) error {
	const dialers = 8
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for d := range dialers {
		wg.Go(func() {
			for i := d; i < len(conns); i += dialers {
				c, err := dial(ctx, "tcp4", addrs[i%len(addrs)])
				if err != nil {
					once.Do(func() { first = fmt.Errorf("dial %d: %w", i, err); cancel() })
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	return first
}

// acceptAll fills conns from the listeners, connection i from
// lns[i%len(lns)] (in order of arrival on each). The goroutines have ended
// when it returns.
func acceptAll(ctx context.Context, lns []net.Listener, conns []net.Conn) error {
	// Accept has no context: close the listeners if ctx ends first.
	stop := context.AfterFunc(ctx, func() {
		for _, ln := range lns {
			ln.Close()
		}
	})
	defer stop()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for l, ln := range lns {
		wg.Go(func() {
			for i := l; i < len(conns); i += len(lns) {
				c, err := ln.Accept()
				if err != nil {
					once.Do(func() { first = fmt.Errorf("accept: %w", err) })
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	return first
}

// spread is the fastest and slowest round's time to open all.
func spread(ss []stats) (lo, hi time.Duration) {
	lo, hi = ss[0].setup, ss[0].setup
	for _, s := range ss {
		lo, hi = min(lo, s.setup), max(hi, s.setup)
	}
	return lo, hi
}

// median takes the median of each field separately.
func median(ss []stats) stats {
	pick := func(f func(stats) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return stats{
		setup:       time.Duration(pick(func(s stats) float64 { return float64(s.setup) })),
		inspect:     time.Duration(pick(func(s stats) float64 { return float64(s.inspect) })),
		heapPerConn: pick(func(s stats) float64 { return s.heapPerConn }),
		objsPerConn: pick(func(s stats) float64 { return s.objsPerConn }),
		goroutines:  int(pick(func(s stats) float64 { return float64(s.goroutines) })),
	}
}

// peer is this program started again, holding the other ends: plain
// listeners and dialers with Go's keepalive off, driven one line at a time.
type peer struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startPeer() (*peer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envPeer+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &peer{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
}

// call sends one command and returns the reply after "ok".
func (p *peer) call(line string) (string, error) {
	if _, err := fmt.Fprintln(p.in, line); err != nil {
		return "", fmt.Errorf("peer: %w", err)
	}
	if !p.out.Scan() {
		return "", fmt.Errorf("peer: no reply to %q: %v", strings.Fields(line)[0], p.out.Err())
	}
	reply := p.out.Text()
	if rest, ok := strings.CutPrefix(reply, "ok"); ok {
		return strings.TrimSpace(rest), nil
	}
	return "", fmt.Errorf("peer: %s", reply)
}

func (p *peer) do(line string) error {
	_, err := p.call(line)
	return err
}

func (p *peer) stop() {
	p.in.Close()
	p.cmd.Wait()
}

// servePeer runs the peer's side: "listen n addr...", "dial n addr...",
// "close". Every reply is one line, "ok ..." or the error.
func servePeer(r io.Reader, w io.Writer) error {
	var (
		conns    []net.Conn
		lns      []net.Listener
		accepted chan error
	)
	in := bufio.NewScanner(r)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		var (
			reply string
			err   error
		)
		switch f[0] {
		case "listen", "dial":
			var n int
			if len(f) < 3 {
				err = fmt.Errorf("usage: %s n addr [addr ...]", f[0])
				break
			}
			if n, err = strconv.Atoi(f[1]); err != nil {
				break
			}
			conns = make([]net.Conn, n)
			if f[0] == "dial" {
				d := net.Dialer{KeepAlive: -1}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				err = dialAll(ctx, d.DialContext, conns, f[2:])
				cancel()
				break
			}
			lc := net.ListenConfig{KeepAlive: -1}
			var addrs []string
			for _, a := range f[2:] {
				var ln net.Listener
				if ln, err = lc.Listen(context.Background(), "tcp4", a); err != nil {
					break
				}
				lns = append(lns, ln)
				addrs = append(addrs, ln.Addr().String())
			}
			if err != nil {
				break
			}
			accepted = make(chan error, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			go func() { defer cancel(); accepted <- acceptAll(ctx, lns, conns) }()
			reply = strings.Join(addrs, " ")
		case "close":
			if accepted != nil {
				err = <-accepted
				accepted = nil
			}
			for _, c := range conns {
				if c != nil {
					c.(*net.TCPConn).SetLinger(0)
					c.Close()
				}
			}
			for _, ln := range lns {
				ln.Close()
			}
			conns, lns = nil, nil
		default:
			err = fmt.Errorf("unknown command %q", f[0])
		}
		if err != nil {
			fmt.Fprintf(w, "error: %v\n", strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		fmt.Fprintf(w, "ok %s\n", reply)
	}
	return in.Err()
}
