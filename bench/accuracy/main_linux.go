// Command accuracy measures how long a connection takes to fail against a
// real peer that has gone silent (keepalivetest.Silence: the peer socket
// drops everything it is sent, like a dead host), for a grid of Configs, and
// prints the model's prediction next to the measurement.
//
// Idle rows measure from just before the dial (the last segment received
// from the peer comes after) to the failing Read, against Detection's Idle,
// IdleMin and IdleMax. In-flight rows write to
// the silent peer and measure from the write, against Detection's InFlightMin and InFlightMax,
// which count from the write too. Rows marked netns run, as root, in a private network
// namespace with lowered sysctls (the tcp_retries2 path); without root they
// are skipped. Rows marked "failure lab" are issue 11's real failures
// (internal/faultlab: links down, hosts gone, NATs, hung and killed peers,
// in network namespaces), each checked against its own bound and the
// errors the kernel gives there; they need root and the ip and nft
// commands, and without them are skipped with the reason. All rows run in
// parallel.
//
//	go run ./bench/accuracy [-rows regexp] [-ipv6]
//
// It exits 1 if a row fails or lands outside its bounds.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/faultlab"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

const s = time.Second

// row is one measurement.
type row struct {
	name     string
	cfg      func() (keepalive.Config, error)
	inFlight bool              // write to the dead peer instead of staying idle
	sysctls  map[string]string // non-nil: run in a private network namespace with these
	lab      *faultlab.Case    // non-nil: a failure lab case instead of a silenced loopback peer
}

func fixed(c keepalive.Config) func() (keepalive.Config, error) {
	return func() (keepalive.Config, error) { return c, nil }
}

// grid is every row; the longest take about 25 s, so the grid takes that
// much when the rows run in parallel.
var grid = []row{
	{name: "Idle 1s, Interval 1s, Count 1", cfg: fixed(keepalive.Config{Idle: s, Interval: s, Count: 1})},
	{name: "Idle 1s, Interval 1s, Count 3", cfg: fixed(keepalive.Config{Idle: s, Interval: s, Count: 3})},
	{name: "Idle 2s, Interval 1s, Count 2", cfg: fixed(keepalive.Config{Idle: 2 * s, Interval: s, Count: 2})},
	{name: "Idle 1s, Interval 2s, Count 2", cfg: fixed(keepalive.Config{Idle: s, Interval: 2 * s, Count: 2})},
	{name: "Idle 5s, Interval 2s, Count 3", cfg: fixed(keepalive.Config{Idle: 5 * s, Interval: 2 * s, Count: 3})},
	{name: "Idle 20s, Interval 1s, Count 1 (long timer)", cfg: fixed(keepalive.Config{Idle: 20 * s, Interval: s, Count: 1})},
	{name: "Idle 1s, Interval 1s, Count 9, UserTimeout 2.5s", cfg: fixed(keepalive.Config{Idle: s, Interval: s, Count: 9, UserTimeout: 2500 * time.Millisecond})},
	{name: "Idle 2s, Interval 1s, UserTimeout 0.5s", cfg: fixed(keepalive.Config{Idle: 2 * s, Interval: s, UserTimeout: 500 * time.Millisecond})},
	{name: "Idle 1s, Interval 2s, UserTimeout 4.5s", cfg: fixed(keepalive.Config{Idle: s, Interval: 2 * s, UserTimeout: 4500 * time.Millisecond})},
	{name: "Idle 1s, Interval 1s, UserTimeout 2.01s (just above a probe)", cfg: fixed(keepalive.Config{Idle: s, Interval: s, UserTimeout: 2010 * time.Millisecond})},
	{name: "Within(8s, 350s)", cfg: func() (keepalive.Config, error) { return keepalive.Within(8*s, 350*s) }},
	{name: "UserTimeout 1.5s", cfg: fixed(keepalive.Config{UserTimeout: 1500 * time.Millisecond}), inFlight: true},
	{name: "Idle 1s, Interval 1s, Count 1, UserTimeout 2s", cfg: fixed(keepalive.Config{Idle: s, Interval: s, Count: 1, UserTimeout: 2 * s}), inFlight: true},
	{name: "Idle 1s, Interval 1s, Count 9, UserTimeout 4s", cfg: fixed(keepalive.Config{Idle: s, Interval: s, Count: 9, UserTimeout: 4 * s}), inFlight: true},
	{name: "Within(8s, 350s)", cfg: func() (keepalive.Config, error) { return keepalive.Within(8*s, 350*s) }, inFlight: true},
	{name: "Idle 60s, tcp_retries2 3", cfg: fixed(keepalive.Config{Idle: 60 * s}), inFlight: true,
		sysctls: map[string]string{"net/ipv4/tcp_retries2": "3"}},
	{name: "Idle 60s, tcp_retries2 5", cfg: fixed(keepalive.Config{Idle: 60 * s}), inFlight: true,
		sysctls: map[string]string{"net/ipv4/tcp_retries2": "5"}},
	{name: "Config{}, sysctls keepalive 2s/1s/2", cfg: fixed(keepalive.Config{}),
		sysctls: map[string]string{"net/ipv4/tcp_keepalive_time": "2", "net/ipv4/tcp_keepalive_intvl": "1", "net/ipv4/tcp_keepalive_probes": "2"}},
}

func init() {
	for _, c := range faultlab.Cases {
		grid = append(grid, row{name: c.Name, lab: c})
	}
}

// Slack the measurement may take beyond the model's bounds: the scheduler
// on a loaded machine between the kernel failing the socket and Read
// returning.
const (
	schedSlack = 500 * time.Millisecond
	jiffy      = 10 * time.Millisecond
	// maxWait caps a row whose model allows far more than loopback takes
	// (the tcp_retries2 rows: budget + RTOMax of 120 s).
	maxWait = 40 * time.Second
)

// result is one row's outcome; netns rows pass it from the child as JSON.
type result struct {
	Name     string
	InFlight bool
	NetNS    string
	Config   string
	// Predicted is Detection's Idle (idle) or InFlightMin.
	Predicted, Earliest, Worst time.Duration
	Measured                   time.Duration
	Err                        string // the row could not be measured, or missed its bound
	Skipped                    string
	Seen                       string // the error the blocked call returned
	Lab                        string // a failure lab row: what the bound counts from
}

func (r result) inBounds() bool {
	if r.Err != "" {
		return false
	}
	if r.Lab != "" {
		return true // faultlab's Check passed
	}
	return r.Measured >= r.Earliest-jiffy && r.Measured <= r.Worst+schedSlack
}

const envChild = "KEEPALIVE_ACCURACY_ROW"

func main() {
	faultlab.ServePeer()
	if name := os.Getenv(envChild); name != "" {
		os.Exit(child(name, os.Stdout))
	}
	rowsFlag := flag.String("rows", "", "run only the rows whose name (with \"idle\"/\"in flight\") matches this regexp")
	ipv6 := flag.Bool("ipv6", false, "use ::1 instead of 127.0.0.1")
	flag.Parse()
	rows, err := selectRows(*rowsFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	network := "tcp4"
	if *ipv6 {
		network = "tcp6"
	}
	start := time.Now()
	results := runGrid(rows, network)
	printTable(os.Stdout, results, time.Since(start), network)
	if bad := failures(results); len(bad) > 0 {
		fmt.Fprintf(os.Stderr, "accuracy: %d row(s) failed or out of bounds: %s\n", len(bad), strings.Join(bad, "; "))
		os.Exit(1)
	}
}

func rowKey(r row) string {
	if r.lab != nil {
		return r.name + " (failure lab)"
	}
	if r.inFlight {
		return r.name + " (in flight)"
	}
	return r.name + " (idle)"
}

func selectRows(pattern string) ([]row, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("accuracy: -rows: %w", err)
	}
	var rows []row
	for _, r := range grid {
		if re.MatchString(rowKey(r)) {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("accuracy: no row matches %q", pattern)
	}
	return rows, nil
}

func failures(results []result) []string {
	var bad []string
	for _, r := range results {
		if r.Skipped == "" && !r.inBounds() {
			bad = append(bad, r.Name)
		}
	}
	return bad
}

// runGrid measures every row at once and returns the results in grid order.
func runGrid(rows []row, network string) []result {
	results := make([]result, len(rows))
	var wg sync.WaitGroup
	for i, r := range rows {
		wg.Go(func() {
			switch {
			case r.lab != nil:
				results[i] = measureLab(r, network)
			case r.sysctls != nil:
				results[i] = inNetNS(r, network)
			default:
				results[i] = measure(r, network)
			}
		})
	}
	wg.Wait()
	return results
}

// inNetNS runs the row in a copy of this program started in a new network
// namespace (child), which prints the result as JSON.
func inNetNS(r row, network string) result {
	res := result{Name: rowKey(r), InFlight: r.inFlight, NetNS: sysctlList(r.sysctls)}
	if os.Geteuid() != 0 {
		res.Skipped = "needs root for a private network namespace"
		return res
	}
	exe, err := os.Executable()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	ctx, cancel := context.WithTimeout(context.Background(), maxWait+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), envChild+"="+rowKey(r), "KEEPALIVE_ACCURACY_NETWORK="+network)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		if errors.Is(err, syscall.EPERM) {
			res.Skipped = "cannot create a network namespace: " + err.Error()
		} else {
			res.Err = fmt.Sprintf("run in a network namespace: %v", err)
		}
		return res
	}
	if err := json.Unmarshal(out, &res); err != nil {
		res.Err = fmt.Sprintf("reading the network namespace run's result %q: %v", out, err)
	}
	return res
}

// measureLab measures a failure lab row (faultlab.Measure) and checks it
// against its bound and errors (Result.Check).
func measureLab(r row, network string) result {
	res := result{Name: rowKey(r), Lab: "failure lab"}
	if err := faultlab.Available(); err != nil {
		res.Skipped = err.Error()
		return res
	}
	if !r.lab.IPv6 && network == "tcp6" {
		network = "tcp4" // the case is measured over IPv4 only
	}
	l, err := faultlab.New()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer l.Close()
	m, err := faultlab.Measure(l, r.lab, network)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.Config = fmt.Sprintf("%+v", r.lab.Config.Rounded())
	res.Predicted, res.Earliest, res.Worst, res.Measured = m.Model, m.Lo, m.Hi, m.Took
	res.Seen = faultlab.ErrName(m.Err)
	if r.lab.Load == faultlab.Flood {
		res.Seen = "Write " + res.Seen + ", Read " + faultlab.ErrName(m.ReaderErr)
	}
	if err := m.Check(); err != nil {
		res.Err = err.Error()
	}
	return res
}

// child runs one netns row inside the namespace it was started in.
func child(name string, w io.Writer) int {
	for _, r := range grid {
		if rowKey(r) != name {
			continue
		}
		res := result{Name: name, InFlight: r.inFlight, NetNS: sysctlList(r.sysctls)}
		if err := testkit.SetUpNetNS(r.sysctls); err != nil {
			res.Err = err.Error()
		} else {
			res = measure(r, os.Getenv("KEEPALIVE_ACCURACY_NETWORK"))
		}
		if err := json.NewEncoder(w).Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "accuracy: no row %q\n", name)
	return 2
}

func sysctlList(m map[string]string) string {
	if m == nil {
		return ""
	}
	var parts []string
	for _, name := range []string{"net/ipv4/tcp_retries2", "net/ipv4/tcp_keepalive_time", "net/ipv4/tcp_keepalive_intvl", "net/ipv4/tcp_keepalive_probes"} {
		if v, ok := m[name]; ok {
			parts = append(parts, name[strings.LastIndex(name, "/")+1:]+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// measure dials a loopback peer with the row's Config, silences the peer
// and times the failure.
func measure(r row, network string) result {
	res := result{Name: rowKey(r), InFlight: r.inFlight, NetNS: sysctlList(r.sysctls)}
	cfg, err := r.cfg()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.Config = fmt.Sprintf("%+v", cfg.Rounded())
	sys, err := keepalive.ReadSystem() // in the row's network namespace: its sysctls
	if err != nil {
		res.Err = err.Error()
		return res
	}
	d, err := cfg.Detection(sys)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	if r.inFlight {
		res.Predicted, res.Earliest, res.Worst = d.InFlightMin, d.InFlightMin, d.InFlightMax
	} else {
		res.Predicted, res.Earliest, res.Worst = d.Idle, d.IdleMin, d.IdleMax
	}
	addr := "127.0.0.1:0"
	if network == "tcp6" {
		addr = "[::1]:0"
	}
	start := time.Now() // before the handshake, so before the last segment received
	client, server, err := pair(network, addr, cfg)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer client.Close()
	defer server.Close()
	if err := keepalivetest.Silence(server); errors.Is(err, keepalivetest.ErrRefused) {
		// Not this row's fault: like a netns row without root.
		res.Skipped = err.Error()
		return res
	} else if err != nil {
		res.Err = err.Error()
		return res
	}
	wait := res.Worst + schedSlack
	if r.inFlight && cfg.UserTimeout == 0 {
		// Timeout's hi allows a whole RTOMax (120 s): loose enough that
		// no loopback result could miss it. Check the mechanism instead:
		// the retransmission timer fires at doubling intervals from this
		// connection's first RTO, and the first firing at or past the
		// budget aborts.
		rto, err := firstRTO(client)
		if err != nil {
			res.Err = err.Error()
			return res
		}
		// From the write: a tail-loss probe and the first RTO come first.
		res.Worst = 2*rto + scheduleAbort(res.Predicted, rto, systemRTOMax())
		wait = res.Worst + schedSlack
	}
	if r.inFlight {
		start = time.Now()
		if _, err := client.Write([]byte("are you there?")); err != nil {
			res.Err = err.Error()
			return res
		}
	} else if idle := cfg.Rounded().Idle; idle > 0 && time.Since(start) > idle/2 {
		res.Err = fmt.Sprintf("the peer went silent too late (%v after the dial); the machine is too loaded", time.Since(start))
		return res
	}
	took, err := testkit.ReadFailure(client, start, min(wait, maxWait))
	res.Measured = took
	res.Seen = faultlab.ErrName(err)
	// Any error the kernel ends the connection with counts (ETIMEDOUT
	// here, but also the last soft error, see docs/failures.md); a read
	// deadline means it was not detected in time.
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		res.Err = fmt.Sprintf("still open after %v", took.Round(time.Millisecond))
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		res.Err = fmt.Sprintf("the peer closed or reset after %v (%s): it was not silenced", took.Round(time.Millisecond), res.Seen)
	}
	return res
}

// firstRTO is the connection's current retransmission timeout (TCP_INFO
// tcpi_rto), the first RTO a write that goes unanswered will wait.
func firstRTO(conn net.Conn) (time.Duration, error) {
	info, err := testkit.TCPInfo(conn)
	if err != nil {
		return 0, err
	}
	return time.Duration(info.Rto) * time.Microsecond, nil
}

func systemRTOMax() time.Duration {
	if s, err := keepalive.ReadSystem(); err == nil && s.RTOMax > 0 {
		return s.RTOMax
	}
	return 120 * time.Second
}

// scheduleAbort is when, counted from the first retransmission, the
// retransmission timer first fires with budget spent: it fires at doubling
// intervals from 2*rto (capped at rtoMax) and checks the budget each time
// (net/ipv4/tcp_timer.c, tcp_write_timeout). Plus that last timer's slack.
func scheduleAbort(budget, rto, rtoMax time.Duration) time.Duration {
	elapsed, gap := time.Duration(0), rto
	for elapsed < budget {
		gap = min(2*gap, rtoMax)
		elapsed += gap
	}
	return elapsed + (gap*8+62)/63 + 10*time.Millisecond
}

// pair dials a plain loopback listener with cfg.Dial.
func pair(network, addr string, cfg keepalive.Config) (client, server net.Conn, err error) {
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, err = cfg.Dial(ctx, network, ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	// The handshake is done; Accept returns at once, but bound it anyway.
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, server, nil
}

func printTable(w io.Writer, results []result, took time.Duration, network string) {
	fmt.Fprintf(w, "Dead-peer detection on %s loopback, %d rows in parallel, %v in all.\n\n", network, len(results), took.Round(100*time.Millisecond))
	fmt.Fprintln(w, "| case | network namespace sysctls | predicted | earliest | worst case | measured | measured / predicted | error seen | within bounds |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		ns := r.NetNS
		if ns == "" {
			ns = "(host)"
		}
		if r.Lab != "" {
			ns = r.Lab
		}
		switch {
		case r.Skipped != "":
			fmt.Fprintf(w, "| %s | %s | | | | skipped: %s | | | |\n", r.Name, ns, r.Skipped)
		case r.Err != "" && r.Predicted == 0:
			fmt.Fprintf(w, "| %s | %s | | | | error: %s | | | no |\n", r.Name, ns, r.Err)
		default:
			measured := fmtDur(r.Measured)
			if r.Err != "" {
				measured = "error: " + r.Err
			}
			if r.InFlight {
				measured += " after the write"
			}
			ok := "yes"
			if !r.inBounds() {
				ok = "NO"
			}
			ratio := "-"
			if r.Predicted > 0 {
				ratio = fmt.Sprintf("%.3f", float64(r.Measured)/float64(r.Predicted))
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Name, ns, fmtDur(r.Predicted), fmtDur(r.Earliest), fmtDur(r.Worst), measured, ratio, r.Seen, ok)
		}
	}
	if skipped := skippedRows(results); skipped != "" {
		fmt.Fprintf(w, "\nSkipped: %s\n", skipped)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Failure lab rows: the bound of each case (docs/failures.md), from the dial for idle cases, from the write for data in flight or a closed window, from the fault for a FIN or a reset; never-detected cases show the wait as worst case; within bounds means the error and the time are what the case promises. Idle rows: predicted is Detection's Idle, from the last segment received (the clock starts before the dial). In-flight rows: predicted and earliest are Detection's InFlightMin and worst case its InFlightMax, counted from the write (tcp_retries2 rows: worst case is two RTOs, a tail-loss probe and the first retransmission, plus when the retransmission timer, doubling from the connection's first RTO, first fires with the budget spent, about twice the budget on loopback; InFlightMax allows a whole RTOMax more and could not be missed here). Within bounds: earliest - 10 ms <= measured <= worst case + 0.5 s scheduling slack.")
}

// skippedRows says which rows were skipped and why, one reason at a time.
func skippedRows(results []result) string {
	var order []string
	rows := map[string][]string{}
	for _, r := range results {
		if r.Skipped == "" {
			continue
		}
		if rows[r.Skipped] == nil {
			order = append(order, r.Skipped)
		}
		rows[r.Skipped] = append(rows[r.Skipped], r.Name)
	}
	var parts []string
	for _, why := range order {
		parts = append(parts, fmt.Sprintf("%d row(s) because %s (%s)", len(rows[why]), why, strings.Join(rows[why], "; ")))
	}
	return strings.Join(parts, ". ")
}

func fmtDur(d time.Duration) string {
	if d >= time.Hour {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}
