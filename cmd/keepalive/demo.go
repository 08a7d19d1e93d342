package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

const demoAbout = `Dials a local peer three times: with Go's default dialer, with the OS
defaults (keepalive.Config{}) and with the Config of the flags. Then makes
the peer drop everything it receives, as a dead host would (a socket filter,
SO_ATTACH_FILTER), and shows each connection live: time since the peer went
silent, keepalive probes sent (TCP_INFO tcpi_probes), and when the model says
it is declared dead. It waits for the Config's worst case plus 1s, then
compares predicted and measured; the others are still hanging by then.
A Config whose worst case plus 1s exceeds --max-wait (10m by default) is
refused, so the demo always ends. Needs Linux. Without CAP_NET_ADMIN it runs
itself again in a user and network namespace of its own (its "OS defaults"
are then the kernel's built-in ones); where the kernel forbids that too it
exits 3 and says which sysctl or policy to change.`

const demoExample = `  keepalive demo
  keepalive demo --idle 5s --interval 2s --count 3
  keepalive demo --idle 1s --interval 1s --user-timeout 2500ms --json`

// dialFunc dials like net.Dialer.DialContext.
type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// readFailure reads conn until a read fails or the deadline start+bound
// passes, and returns how long after start that was and the error
// (os.ErrDeadlineExceeded when the connection is still up at the bound).
func readFailure(conn net.Conn, start time.Time, bound time.Duration) (time.Duration, error) {
	if err := conn.SetReadDeadline(start.Add(bound)); err != nil {
		return 0, err
	}
	var b [64]byte
	for {
		if _, err := conn.Read(b[:]); err != nil {
			return time.Since(start), err
		}
	}
}

// demoConn is one connection of the demo and what was seen of it.
type demoConn struct {
	name      string
	cfg       keepalive.Config // the values in effect, zero fields from the system
	dial      dialFunc
	predicted time.Duration // keepalive.Detection's Idle
	worst     time.Duration // and IdleMax

	client, peer net.Conn
	ln           net.Listener
	start        time.Time     // just before the dial: the last segment from the peer is the handshake's
	done         chan struct{} // closed when the read has returned
	took         time.Duration
	err          error
	state        keepalive.State // once the read returned: closed when the kernel dropped it
	cause        keepalive.Cause // why, as keepalive.CauseOf says
	probes       int             // unanswered keepalive probes sent (tcpi_probes)
	endProbes    int             // the count CauseOf read at the end (-1: none), set before done
	backoff      int             // tcpi_backoff
}

type demoConnJSON struct {
	Name      string     `json:"name"`
	Config    jsonConfig `json:"config"`
	Predicted seconds    `json:"predicted_s"`
	Worst     seconds    `json:"worst_case_s"`
	// Outcome is "dead" (the kernel closed the socket: its TCP state is
	// closed, whatever error the read returned), "ESTABLISHED" (still
	// hanging at the bound) or "error" (the read failed otherwise); Cause
	// is keepalive.CauseOf's word for it ("keepalive timeout", ...).
	Outcome  string  `json:"outcome"`
	Cause    string  `json:"cause,omitempty"`
	Measured seconds `json:"measured_s"`
	Probes   int     `json:"probes_sent"`
	// Error is what the read returned, Errno its name ("ETIMEDOUT",
	// "EHOSTUNREACH", "EOF"): a dead peer is not always ETIMEDOUT.
	Error string `json:"error,omitempty"`
	Errno string `json:"errno,omitempty"`
}

type demoJSON struct {
	Bound       seconds        `json:"waited_s"`
	Connections []demoConnJSON `json:"connections"`
}

func runDemo(stdout, stderr io.Writer, args []string) int {
	fs := newFlags(stdout, "demo", "[--idle D --interval D --count N --user-timeout D] [--json]", demoAbout, demoExample)
	cfg := configFlags(fs.FlagSet, keepalive.Config{Idle: 2 * time.Second, Interval: time.Second, Count: 3})
	asJSON := fs.Bool("json", false, "print only the result, as JSON")
	maxWait := fs.Duration("max-wait", 10*time.Minute, "the longest the demo may wait; a Config whose worst case plus 1s is longer is refused")
	if code, ok := fs.parse(stderr, args); !ok {
		return code
	}
	if *maxWait <= 0 {
		fmt.Fprintf(stderr, "keepalive demo: --max-wait %v: must be positive\n", *maxWait)
		return exitUsage
	}
	if err := demoSupported(); err != nil {
		return fail(stderr, "demo", err)
	}
	if err := validateFlags(*cfg); err != nil {
		fmt.Fprintf(stderr, "keepalive demo: %v\n", err)
		return exitUsage
	}
	sys, err := keepalive.ReadSystem()
	if err != nil {
		return fail(stderr, "demo", err)
	}
	goCfg := goDefault()
	conns := []*demoConn{
		{name: "Go's net.Dialer{}", cfg: goCfg, dial: (&net.Dialer{}).DialContext},
		{name: "keepalive.Config{} (OS defaults)", cfg: keepaliveValues(sys), dial: keepalive.Config{}.Dial},
		{name: "keepalive." + configString(*cfg), cfg: withSystem(cfg.Rounded(), sys), dial: cfg.Dial},
	}
	for _, c := range conns {
		d, err := c.cfg.Detection(sys)
		if err != nil {
			return fail(stderr, "demo", err)
		}
		c.predicted, c.worst = d.Idle, d.IdleMax
	}
	mine := conns[2]
	bound := mine.worst + time.Second
	if bound > *maxWait {
		// Bounded: three sockets and socket filters must not stay up for
		// hours because of a long Idle (or a zero field that stands for
		// the system's 2 hours).
		fmt.Fprintf(stderr, "keepalive demo: %s has a worst case of %s, so the demo would wait %s, beyond --max-wait %s:\n"+
			"give shorter --idle/--interval/--count/--user-timeout, or a longer --max-wait\n",
			configString(*cfg), dur(mine.worst), dur(bound), dur(*maxWait))
		return exitUsage
	}

	for _, c := range conns {
		defer c.close()
		if err := c.open(); errors.Is(err, keepalivetest.ErrRefused) {
			// The rootless path: the same demo, in a user and network
			// namespace of its own, where this user may silence its peer.
			for _, c := range conns {
				c.close()
			}
			code, nerr := keepalivetest.Rerun(os.Args[1:]...)
			if nerr != nil {
				return refused(stderr, args, err, nerr)
			}
			return code
		} else if err != nil {
			return fail(stderr, "demo", fmt.Errorf("%s: %w", c.name, err))
		}
	}
	for _, c := range conns {
		go func() {
			c.took, c.err = readFailure(c.client, c.start, bound)
			// Before the socket is closed: the kernel's view of why.
			cause, st, err := keepalive.CauseOf(c.client, c.err)
			c.endProbes = -1
			if err == nil {
				c.state, c.cause = st.State, cause
				if st.Has(keepalive.FieldProbes) {
					c.endProbes = st.Probes
				}
			}
			close(c.done)
		}()
	}

	if *asJSON {
		for _, c := range conns {
			<-c.done
			c.poll()
		}
	} else {
		fmt.Fprintf(stdout, "3 connections to a local peer that has gone silent like a dead host. Waiting up to %s.\n\n", dur(bound))
		live := &liveOutput{w: stdout, conns: conns}
		if f, ok := stdout.(*os.File); ok && isTerminal(f) {
			live.redraw = true
		}
		live.follow()
	}

	result := demoJSON{Bound: seconds(bound)}
	for _, c := range conns {
		result.Connections = append(result.Connections, c.json())
	}
	if *asJSON {
		if err := writeJSON(stdout, result); err != nil {
			return fail(stderr, "demo", err)
		}
	} else {
		printDemoResult(stdout, conns)
	}
	if mine.outcome() != "dead" {
		fmt.Fprintf(stderr, "keepalive demo: the Config's connection was not declared dead within %s (state %s): %v\n", dur(bound), mine.state, mine.err)
		return exitFail
	}
	return exitOK
}

// open makes the peer, dials it and silences it.
func (c *demoConn) open() error {
	c.done = make(chan struct{})
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c.ln = ln
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.start = time.Now()
	if c.client, err = c.dial(ctx, "tcp4", ln.Addr().String()); err != nil {
		return err
	}
	if c.peer, err = ln.Accept(); err != nil {
		return err
	}
	return keepalivetest.Silence(c.peer)
}

// refused explains a refused socket filter and a refused namespace, and
// how to run the demo with what it needs, and returns exitRefused.
func refused(stderr io.Writer, args []string, err, nsErr error) int {
	again := "keepalive demo"
	for _, a := range args {
		again += " " + shellQuote(a)
	}
	fmt.Fprintf(stderr, `keepalive demo: not permitted to make the local peer go silent.
  %v
  %v
The demo plays the dead host by attaching a socket filter (SO_ATTACH_FILTER)
to its own peer's socket, which a TCP socket takes only from a process with
CAP_NET_ADMIN over its network namespace. Without root the demo runs again
in a user and network namespace of its own, and this kernel refused that.
Allow unprivileged user namespaces as the line above says, or run as root:
    sudo %s
`, err, nsErr, again)
	return exitRefused
}

// shellQuote quotes s for a POSIX shell, where it needs it.
func shellQuote(s string) string {
	const safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%"
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !strings.ContainsRune(safe, r) }) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (c *demoConn) close() {
	for _, x := range []io.Closer{c.client, c.peer, c.ln} {
		if x != nil {
			x.Close()
		}
	}
}

// poll reads the probe count from the client's TCP_INFO (keepalive.StatusOf).
// It keeps the last count when the socket can no longer be read.
func (c *demoConn) poll() {
	if c.finished() {
		if c.endProbes >= 0 { // done is closed: endProbes is set
			c.probes = c.endProbes
		}
		return
	}
	if st, err := keepalive.StatusOf(c.client); err == nil && st.Has(keepalive.FieldProbes) {
		c.probes, c.backoff = st.Probes, st.Backoff
	}
}

func (c *demoConn) finished() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// outcome says where the connection stands, once finished, from the
// socket's state rather than the error: the kernel returns ETIMEDOUT, or
// the last soft error (EHOSTUNREACH, ENETUNREACH, ...), and a second
// reader only EOF.
func (c *demoConn) outcome() string {
	switch {
	case c.state == keepalive.StateClosed:
		return "dead"
	case errors.Is(c.err, os.ErrDeadlineExceeded):
		return "ESTABLISHED"
	}
	return "error"
}

// errName names the read's error the way the kernel does: ETIMEDOUT,
// EHOSTUNREACH, or EOF.
func errName(err error) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return ""
	case errors.As(err, &errno):
		if n := errnoName(errno); n != "" {
			return n
		}
		return errno.Error()
	case errors.Is(err, io.EOF):
		return "EOF"
	}
	return err.Error()
}

func (c *demoConn) json() demoConnJSON {
	j := demoConnJSON{Name: c.name, Config: toJSON(c.cfg), Predicted: seconds(c.predicted), Worst: seconds(c.worst),
		Outcome: c.outcome(), Measured: seconds(c.took), Probes: c.probes}
	if j.Outcome == "dead" {
		j.Cause = c.cause.String()
	}
	if j.Outcome != "ESTABLISHED" && c.err != nil {
		j.Error, j.Errno = c.err.Error(), errName(c.err)
	}
	return j
}

// liveOutput shows the connections while they run: on a terminal one line
// per connection, redrawn in place; otherwise a plain line whenever a probe
// goes out or a connection ends, which reads well in a log or a pipe.
type liveOutput struct {
	w      io.Writer
	conns  []*demoConn
	redraw bool
	drawn  bool
}

func (l *liveOutput) follow() {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	reported := make([]bool, len(l.conns))
	lastProbes := make([]int, len(l.conns))
	if !l.redraw {
		for _, c := range l.conns {
			fmt.Fprintf(l.w, "%8s  %s: peer silent; predicted dead after %s (worst case %s)\n", "0s", c.name, dur(c.predicted), dur(c.worst))
		}
	}
	for n := 0; ; n++ {
		all := true
		for i, c := range l.conns {
			if reported[i] {
				continue
			}
			fin := c.finished()
			c.poll()
			if !fin {
				all = false
			}
			if !l.redraw {
				elapsed := time.Since(c.start)
				if fin {
					elapsed = c.took
				}
				if c.probes != lastProbes[i] {
					fmt.Fprintf(l.w, "%8s  %s: %d keepalive probe(s) unanswered (tcpi_probes %d, tcpi_backoff %d)\n",
						dur(elapsed), c.name, c.probes, c.probes, c.backoff)
					lastProbes[i] = c.probes
				}
				if fin {
					fmt.Fprintf(l.w, "%8s  %s: %s\n", dur(elapsed), c.name, c.verdict())
				}
			}
			reported[i] = fin
		}
		if l.redraw && (all || n%2 == 0) {
			l.draw()
		}
		if all {
			fmt.Fprintln(l.w)
			return
		}
		<-tick.C
	}
}

// draw rewrites the block of progress lines in place.
func (l *liveOutput) draw() {
	if l.drawn {
		fmt.Fprintf(l.w, "\x1b[%dA", len(l.conns))
	}
	l.drawn = true
	tw := tabwriter.NewWriter(l.w, 0, 0, 2, ' ', 0)
	for _, c := range l.conns {
		// Short lines: a line that wraps would break the redraw.
		elapsed, state := dur(time.Since(c.start).Truncate(100*time.Millisecond)), "waiting"
		if c.finished() {
			elapsed = dur(c.took)
			switch c.outcome() {
			case "dead":
				state = "declared dead (" + c.cause.String() + ", " + errName(c.err) + ")"
			case "ESTABLISHED":
				state = "still ESTABLISHED, stopped waiting"
			default:
				state = "error"
			}
		}
		fmt.Fprintf(tw, "\r\x1b[K%s\t%s\tprobes sent %d\tpredicted dead at %s\t%s\n", c.name, elapsed, c.probes, dur(c.predicted), state)
	}
	tw.Flush()
}

// verdict describes a finished connection.
func (c *demoConn) verdict() string {
	switch c.outcome() {
	case "dead":
		return fmt.Sprintf("declared dead (%s): read failed with %s (%v) after %s (%.3fx predicted)", c.cause, errName(c.err), c.err, dur(c.took), float64(c.took)/float64(c.predicted))
	case "ESTABLISHED":
		return fmt.Sprintf("still ESTABLISHED after %s, stopped waiting (predicted %s)", dur(c.took), dur(c.predicted))
	}
	return fmt.Sprintf("failed after %s: %v", dur(c.took), c.err)
}

func printDemoResult(w io.Writer, conns []*demoConn) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "connection\tidle/interval/count/user timeout\tpredicted\tworst case\tmeasured")
	for _, c := range conns {
		measured := "still ESTABLISHED after " + dur(c.took)
		switch c.outcome() {
		case "dead":
			measured = fmt.Sprintf("%s after %s, %d probes (%s)", c.cause, dur(c.took), c.probes, errName(c.err))
		case "error":
			measured = oneLine(fmt.Sprintf("error after %s: %v", dur(c.took), c.err))
		}
		ut := "off"
		if c.cfg.UserTimeout > 0 {
			ut = secs(c.cfg.UserTimeout)
		}
		fmt.Fprintf(tw, "%s\t%s/%s/%d/%s\t%s\t%s\t%s\n", c.name, secs(c.cfg.Idle), secs(c.cfg.Interval), c.cfg.Count, ut,
			dur(c.predicted), dur(c.worst), measured)
	}
	tw.Flush()
	mine, osDefaults := conns[len(conns)-1], conns[1]
	if mine.outcome() == "dead" && osDefaults.outcome() == "ESTABLISHED" {
		fmt.Fprintf(w, "\nWith the Config the dead peer was found after %s (predicted %s); with the OS defaults the connection would hang for %s.\n",
			dur(mine.took), dur(mine.predicted), dur(osDefaults.predicted))
	}
}
