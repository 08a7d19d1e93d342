package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/keepalive-go/keepalive"
)

const whyAbout = `Explains, in sentences, each TCP connection with ADDR:PORT at either end
(or, given two, the one with the first as its local and the second as its
remote end): its state; which processes hold it; keepalive on or off and
the values in force; which kernel timer runs (keepalive, retransmission,
zero-window probe); unanswered probes and unacknowledged data; and the
verdict: when the kernel will drop it if the peer is dead (the keepalive
library's model, Config.Detection, with the socket's values), or why it
never will, and what to do.

A connection that never ends by itself is typically one of:
  - keepalive off, idle: nothing is ever sent, so a dead peer goes unnoticed;
  - a process killed while a child it started still holds the socket (an
    fd inherited without close-on-exec): no FIN is sent, the kernel answers
    every keepalive probe, and no keepalive setting can end it.

--kill ends the matching connections with SOCK_DESTROY (as ss -K does): the
holders' next call fails, the peer receives a reset. It asks on stdin first,
unless --yes. It refuses a port alone (:443) without --pid, which would
match every program's connections on that port, and leaves TIME-WAIT
sockets alone (closed already). It needs CAP_NET_ADMIN (root) and a kernel with
CONFIG_INET_DIAG_DESTROY. Holders and socket options of other users'
processes need root too; without it the command says what it could not see.
Linux only: on other systems the command says so and exits with status 1.`

const whyExample = `  keepalive why 10.0.0.5:5432
  keepalive why :8080 --pid 4242
  sudo keepalive why --kill 127.0.0.1:8080 127.0.0.1:51234
  sudo keepalive why --netns blue --json 10.1.0.2:443`

// inspector is the OS's view of a network namespace's connections.
type inspector interface {
	list(connFilter) ([]connInfo, []string, error)
	system() keepalive.System // the namespace's sysctls
	options(*connInfo)        // read the keepalive options through a holder
	end(connInfo) error       // SOCK_DESTROY
	Close()
}

// verdict is when, or why never, the kernel drops a connection.
type verdict struct {
	// Ends is "never", "if the peer dies" (at In after the last segment
	// received, Earliest..Latest with the kernel's timer rounding), "soon"
	// (the peer is not answering: In after From), "when closed" or
	// "unknown".
	Ends  string `json:"ends"`
	Cause string `json:"cause"` // in words: "keepalive off", "held by an orphaned process", ...
	// From is what In, Earliest and Latest count from: "now", "the last
	// segment received", "the write" (data in flight) or "the window
	// closing" (zero window). The kernel does not report when a write
	// was made, so the last two are not turned into a time from now.
	From     string   `json:"counted_from,omitempty"`
	In       *seconds `json:"in_s,omitempty"`
	Earliest *seconds `json:"earliest_s,omitempty"`
	Latest   *seconds `json:"latest_s,omitempty"`
	Why      []string `json:"explanation"`
	Todo     []string `json:"what_to_do,omitempty"`
}

type whyConn struct {
	connInfo
	Verdict verdict `json:"verdict"`
	Ended   bool    `json:"ended,omitempty"` // --kill ended it
	EndErr  string  `json:"end_error,omitempty"`
}

type whyJSON struct {
	Connections []whyConn `json:"connections"`
	Notes       []string  `json:"notes,omitempty"`
}

// parseEndpoint reads ADDR:PORT, [V6]:PORT or :PORT (any address).
func parseEndpoint(s string) (netip.AddrPort, error) {
	if p, ok := strings.CutPrefix(s, ":"); ok {
		ap, err := netip.ParseAddrPort("0.0.0.0:" + p)
		if err == nil && ap.Port() != 0 {
			return netip.AddrPortFrom(netip.Addr{}, ap.Port()), nil
		}
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("%q: give an IP address and a port, like 127.0.0.1:8080, [::1]:8080 or :8080 (host names are not looked up)", s)
	}
	if z := ap.Addr().Zone(); z != "" {
		// sock_diag reports addresses without one: it would never match.
		return netip.AddrPort{}, fmt.Errorf("%q: a zone (%%%s) is not supported: give the address without it (%s), which matches it on every interface",
			s, z, netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port()))
	}
	return ap, nil
}

// matches says whether a socket's end, "ip:port" as listConns prints it,
// is want (an invalid address in want matches any).
func matches(want netip.AddrPort, end string) bool {
	ap, err := netip.ParseAddrPort(end)
	if err != nil || ap.Port() != want.Port() {
		return false
	}
	return !want.Addr().IsValid() || want.Addr().IsUnspecified() || ap.Addr().Unmap() == want.Addr().Unmap()
}

func runWhy(stdout, stderr io.Writer, args []string) int {
	fs := newFlags(stdout, "why", "ADDR:PORT [ADDR:PORT] [--pid PID] [--netns NAME|PID] [--kill [--yes]] [--json]", whyAbout, whyExample)
	pid := fs.Int("pid", 0, "only connections this process holds")
	netns := fs.String("netns", "", "look in another network namespace: a name under /run/netns or a process ID (needs root)")
	kill := fs.Bool("kill", false, "end the matching connections (SOCK_DESTROY; needs CAP_NET_ADMIN)")
	yes := fs.Bool("yes", false, "with --kill: do not ask for confirmation")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	// Flags may come before or after the addresses.
	var pos []string
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			fs.help()
			return exitOK
		} else if err != nil {
			fmt.Fprintf(stderr, "keepalive why: %v\n(keepalive why --help shows the flags)\n", err)
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) == 0 || len(pos) > 2 {
		fmt.Fprintf(stderr, "keepalive why: give one ADDR:PORT (either end of the connection) or two (local, then remote)\n(keepalive why --help shows the flags)\n")
		return exitUsage
	}
	var ends []netip.AddrPort
	for _, p := range pos {
		ap, err := parseEndpoint(p)
		if err != nil {
			fmt.Fprintf(stderr, "keepalive why: %v\n", err)
			return exitUsage
		}
		ends = append(ends, ap)
	}
	if *pid < 0 {
		fmt.Fprintf(stderr, "keepalive why: --pid %d: a process ID is positive\n", *pid)
		return exitUsage
	}
	if *yes && !*kill {
		fmt.Fprintf(stderr, "keepalive why: --yes only goes with --kill\n")
		return exitUsage
	}
	if *netns != "" {
		if _, err := netnsPath(*netns); err != nil {
			fmt.Fprintf(stderr, "keepalive why: %v\n", err)
			return exitUsage
		}
	}

	in, err := openInspector(*netns)
	if err != nil {
		return fail(stderr, "why", err)
	}
	defer in.Close()
	// After openInspector, which says first where why does not run.
	if *kill && *pid == 0 && len(ends) == 1 && (!ends[0].Addr().IsValid() || ends[0].Addr().IsUnspecified()) {
		fmt.Fprintf(stderr, "keepalive why: --kill %s: a port alone matches every program's connections to or from port %d; "+
			"give both ends (local, then remote: keepalive why %s shows them) or --pid PID\n", pos[0], ends[0].Port(), pos[0])
		return exitUsage
	}
	all, notes, err := in.list(connFilter{netns: *netns})
	if err != nil {
		return fail(stderr, "why", err)
	}
	byEnds := map[[2]string]*connInfo{}
	for i := range all {
		byEnds[[2]string{all[i].Local, all[i].Remote}] = &all[i]
	}
	var out []whyConn
	var listeners []connInfo // described only when no connection matches
	for i := range all {
		c := all[i]
		if len(ends) == 1 && !matches(ends[0], c.Local) && !matches(ends[0], c.Remote) {
			continue
		}
		if len(ends) == 2 && (!matches(ends[0], c.Local) || !matches(ends[1], c.Remote)) {
			continue
		}
		if *pid != 0 && !slices.ContainsFunc(c.Holders, func(h holder) bool { return h.PID == *pid }) {
			continue
		}
		if c.State == "listen" {
			listeners = append(listeners, c)
			continue
		}
		in.options(&c)
		out = append(out, whyConn{connInfo: c, Verdict: explain(c, byEnds[[2]string{c.Remote, c.Local}], in.system(), *netns)})
	}
	if len(out) == 0 {
		for _, c := range listeners {
			in.options(&c)
			out = append(out, whyConn{connInfo: c, Verdict: explainListener(c)})
		}
	}
	// The options note of conns is about --pid; why reads them itself.
	notes = slices.DeleteFunc(notes, func(n string) bool { return strings.Contains(n, "add --pid PID") })
	if len(out) == 0 {
		where := "this network namespace"
		if *netns != "" {
			where = "network namespace " + *netns
		}
		held := ""
		if *pid != 0 {
			held = fmt.Sprintf(" held by pid %d", *pid)
		}
		fmt.Fprintf(stderr, "keepalive why: no TCP connection %s%s in %s\n", endsText(ends), held, where)
		return exitFail
	}

	if !*asJSON {
		for i, c := range out {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			printWhy(stdout, c)
		}
		for _, n := range notes {
			fmt.Fprintln(stdout, "\nnote: "+n)
		}
	}
	code := exitOK
	if *kill {
		code = killConns(stdout, stderr, in, out, *yes, *asJSON)
	}
	if *asJSON {
		if err := writeJSON(stdout, whyJSON{out, notes}); err != nil {
			return fail(stderr, "why", err)
		}
	}
	return code
}

func endsText(ends []netip.AddrPort) string {
	s := func(a netip.AddrPort) string {
		if !a.Addr().IsValid() {
			return fmt.Sprintf(":%d", a.Port())
		}
		return a.String()
	}
	if len(ends) == 1 {
		return "with " + s(ends[0]) + " at either end"
	}
	return "from " + s(ends[0]) + " to " + s(ends[1])
}

// killConns ends out's connections, after asking on stdin unless yes.
func killConns(stdout, stderr io.Writer, in inspector, out []whyConn, yes, asJSON bool) int {
	// A TIME-WAIT socket is closed already: SOCK_DESTROY would only drop
	// it early, and the peer would receive no reset.
	var live []int
	for i, c := range out {
		if c.State == "time-wait" {
			c.EndErr = "not ended: in TIME-WAIT, closed already (the kernel drops it by itself)"
			out[i] = c
			fmt.Fprintf(stderr, "keepalive why: %s -> %s is in TIME-WAIT, closed already: not ended\n", c.Local, c.Remote)
			continue
		}
		if c.State == "listen" {
			c.EndErr = "not ended: a listener, not a connection"
			out[i] = c
			fmt.Fprintf(stderr, "keepalive why: %s is a listener, not a connection: not ended (its holder closes it)\n", c.Local)
			continue
		}
		if c.State == "closed" {
			c.EndErr = "not ended: the kernel ended it already (its holders must close the socket)"
			out[i] = c
			fmt.Fprintf(stderr, "keepalive why: %s -> %s was ended by the kernel already: not ended again\n", c.Local, c.Remote)
			continue
		}
		live = append(live, i)
	}
	if len(live) == 0 {
		fmt.Fprintln(stderr, "keepalive why: nothing to end")
		return exitFail
	}
	sel := make([]whyConn, len(live))
	for j, i := range live {
		sel[j] = out[i]
	}
	code := endConns(stdout, stderr, in, sel, yes, asJSON)
	for j, i := range live {
		out[i] = sel[j]
	}
	return code
}

// endConns ends out's connections, after asking on stdin unless yes.
func endConns(stdout, stderr io.Writer, in inspector, out []whyConn, yes, asJSON bool) int {
	if !yes {
		fmt.Fprintf(stderr, "End %d connection(s) (%s)? Their holders' next call fails and the peer receives a reset. [y/N] ", len(out), connList(out))
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintf(stderr, "\nkeepalive why: no answer on stdin (%v): nothing ended; --yes ends them without asking\n", err)
			return exitFail
		}
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			fmt.Fprintln(stderr, "keepalive why: nothing ended")
			return exitFail
		}
	}
	code := exitOK
	ended := map[[2]string]bool{}
	for i := range out {
		c := &out[i]
		err := in.end(c.connInfo)
		if errors.Is(err, syscall.ENOENT) && ended[[2]string{c.Remote, c.Local}] {
			// Both ends were on this host: ending the other sent this one
			// the reset that closed it.
			c.Ended = true
			if !asJSON {
				fmt.Fprintf(stdout, "ended %s -> %s with its other end: the reset from ending that one closed it\n", c.Local, c.Remote)
			}
			continue
		}
		if err != nil {
			c.EndErr = err.Error()
			fmt.Fprintf(stderr, "keepalive why: ending %s -> %s: %v\n", c.Local, c.Remote, err)
			code = exitFail
			continue
		}
		c.Ended = true
		ended[[2]string{c.Local, c.Remote}] = true
		if !asJSON {
			fmt.Fprintf(stdout, "ended %s -> %s: the peer receives a reset (ECONNRESET), the holders' next call fails (ECONNABORTED)\n", c.Local, c.Remote)
		}
	}
	return code
}

func connList(out []whyConn) string {
	var s []string
	for _, c := range out {
		s = append(s, c.Local+" -> "+c.Remote)
	}
	return strings.Join(s, ", ")
}

func printWhy(w io.Writer, c whyConn) {
	// Every sentence may hold a holder's name (printable).
	if c.State == "listen" {
		fmt.Fprintf(w, "%s: LISTEN\n", c.Local)
	} else {
		fmt.Fprintf(w, "%s -> %s: %s\n", c.Local, c.Remote, strings.ToUpper(c.State))
	}
	for _, s := range c.Verdict.Why {
		fmt.Fprintln(w, "  "+printable(s))
	}
	v := c.Verdict
	switch {
	case c.State == "listen":
		fmt.Fprintln(w, "Verdict: a listener, not a connection: it stays until its holders close it.")
	default:
		printVerdict(w, v)
	}
	if len(v.Todo) > 0 {
		fmt.Fprintln(w, "What to do:")
		for _, s := range v.Todo {
			fmt.Fprintln(w, "  - "+printable(s))
		}
	}
}

// printVerdict prints a connection's verdict line.
func printVerdict(w io.Writer, v verdict) {
	switch v.Ends {
	case "never":
		fmt.Fprintf(w, "Verdict: the kernel will never end it (%s).\n", printable(v.Cause))
	case "if the peer dies":
		fmt.Fprintf(w, "Verdict: healthy; if the peer dies, the kernel ends it %s after the last segment it received (%s).\n", dur(time.Duration(*v.In)), v.Cause)
	case "soon":
		switch {
		case v.From == "now" || v.From == "":
			fmt.Fprintf(w, "Verdict: the kernel ends it in about %s (%s).\n", dur(time.Duration(*v.In)), v.Cause)
		case v.Earliest != nil && v.Latest != nil && *v.Earliest != *v.Latest:
			fmt.Fprintf(w, "Verdict: the kernel ends it %s to %s after %s (%s).\n", dur(time.Duration(*v.Earliest)), dur(time.Duration(*v.Latest)), v.From, v.Cause)
		default:
			fmt.Fprintf(w, "Verdict: the kernel ends it %s after %s (%s).\n", dur(time.Duration(*v.In)), v.From, v.Cause)
		}
	default:
		fmt.Fprintf(w, "Verdict: %s (%s).\n", v.Ends, v.Cause)
	}
}

func allOrphaned(hs []holder) bool {
	return len(hs) > 0 && !slices.ContainsFunc(hs, func(h holder) bool { return !h.Orphaned })
}

func holderSentence(hs []holder) string {
	var s []string
	for _, h := range hs {
		t := fmt.Sprintf("%s (pid %d, fd %d", h.Command, h.PID, h.FD)
		if h.Orphaned {
			t += fmt.Sprintf(", orphaned: its parent is now pid %d", h.PPID)
		}
		s = append(s, t+")")
	}
	return strings.Join(s, ", ")
}

func sec(d time.Duration) *seconds { s := seconds(d); return &s }

// deref is *p, or zero for nil.
func deref[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}

// flightModel is the library's model for data in flight and a zero window
// on c: its values with the namespace's sysctls and the socket's own RTO
// (tcpi_rto). ok is false when the values could not be read: the user
// timeout, which decides both, is then unknown.
func flightModel(values *keepalive.Config, sys keepalive.System, c connInfo) (keepalive.Detection, bool) {
	if values == nil || c.Options == nil || c.RTOBase == nil {
		return keepalive.Detection{}, false
	}
	sys.RTO = time.Duration(*c.RTOBase)
	d, err := values.Detection(sys)
	return d, err == nil
}

// deadPath is the verdict for data that waits behind a window-probe
// timer nothing answers: it never left (this host's link or route is
// down: the kernel keeps it unsent, and writes succeed until the buffer
// fills) or the path or the peer's host is gone since the window closed.
// The timer gives up after tcp_retries2 unanswered probes, backing off
// from the RTO (the model's in-flight bounds), or at the user timeout,
// clamped to it as for a closed window (its zero-window bounds); both
// count from the first write held back, which the kernel does not report.
func deadPath(v verdict, c connInfo, values *keepalive.Config, sys keepalive.System, killTodo string) verdict {
	say := func(format string, a ...any) { v.Why = append(v.Why, fmt.Sprintf(format, a...)) }
	v.Cause = "nothing answers: the data cannot leave, or the path or the peer's host is gone"
	queued := ""
	if c.SendQ != nil {
		queued = fmt.Sprintf(" (%d bytes in the send queue)", *c.SendQ)
	}
	say("Why it stays: nothing answers the window probes (a live peer's kernel answers each one, whether or not its program reads): the data written%s cannot leave, "+
		"because this host's link or route to the peer is down, or the path or the peer's host is gone. Writes succeed until the send buffer fills.", queued)
	if c.Keepalive == "on" {
		say("Keepalive sends nothing while data waits to be sent.")
	}
	retries2 := sys.Retries2
	if retries2 <= 0 {
		retries2 = 15
	}
	v.Todo = append(v.Todo, "check this host's link and route to the peer (ip link; ip route get "+hostOf(c.Remote)+")")
	d, ok := flightModel(values, sys, c)
	switch {
	case !ok:
		v.Ends = "unknown"
		say("The kernel gives up after tcp_retries2 (%d) unanswered probes (%d so far), or sooner at the user timeout, which could not be read.", retries2, c.Probes)
	case values.UserTimeout > 0 && d.ZeroWindowMax > 0 && d.ZeroWindowMax != keepalive.Never:
		v.Ends, v.From = "soon", "the write"
		v.In, v.Earliest, v.Latest = sec(d.ZeroWindowMax), sec(d.ZeroWindowMin), sec(d.ZeroWindowMax)
		say("The user timeout (%s) ends it %s to %s after the first write that could not leave (the kernel does not report when that was).",
			dur(values.UserTimeout), dur(d.ZeroWindowMin), dur(d.ZeroWindowMax))
	case d.InFlightMax > 0:
		v.Ends, v.From = "soon", "the write"
		v.In, v.Earliest, v.Latest = sec(d.InFlightMax), sec(d.InFlightMin), sec(d.InFlightMax)
		say("The kernel gives up after tcp_retries2 (%d) unanswered probes (%d so far), each interval doubling from the RTO (%s) up to %s: %s to %s after the first write that could not leave (the library's model; the kernel does not report when that was).",
			retries2, c.Probes, dur(time.Duration(*c.RTOBase)), dur(sysRTOMax(sys)), dur(d.InFlightMin), dur(d.InFlightMax))
		v.Todo = append(v.Todo, "set a user timeout with the library (keepalive.Config{UserTimeout: ...}.Apply(conn)) to bound it")
	default:
		v.Ends = "unknown"
		say("The kernel gives up after tcp_retries2 (%d) unanswered probes (%d so far); the library has no model for it here.", retries2, c.Probes)
	}
	v.Todo = append(v.Todo, killTodo)
	return v
}

func sysRTOMax(sys keepalive.System) time.Duration {
	if sys.RTOMax > 0 {
		return sys.RTOMax
	}
	return 120 * time.Second
}

// hostOf is the address of an "ip:port" end.
func hostOf(end string) string {
	if ap, err := netip.ParseAddrPort(end); err == nil {
		return ap.Addr().String()
	}
	return end
}

// explain turns what the kernel reports about c, and about its peer's end
// when that is on this host too, into sentences and a verdict.
func explain(c connInfo, peer *connInfo, sys keepalive.System, netns string) verdict {
	v := explainTCP(c, peer, sys, netns)
	if !c.MultipathTCP {
		return v
	}
	// Multipath TCP: what the kernel reports, and the model, are the
	// subflow's. The connection outlives its last subflow by
	// net.mptcp.close_timeout.
	ct := 60 * time.Second
	if c.MPTCPCloseTimeout != nil {
		ct = time.Duration(*c.MPTCPCloseTimeout)
	}
	for i, w := range v.Why {
		v.Why[i] = strings.ReplaceAll(w, "drops the connection", "drops this subflow")
	}
	v.Why = append(v.Why, fmt.Sprintf("Multipath TCP: the holder's socket is a Multipath TCP socket and this is its subflow. "+
		"Keepalive and the user timeout end only the subflow; the connection stays open net.mptcp.close_timeout (%s in this namespace) longer, "+
		"so it outlives a dead peer by that much, and no keepalive setting bounds it.", dur(ct)))
	v.Todo = append(v.Todo, "use plain TCP where a dead peer must be noticed in time (net.Dialer and net.ListenConfig: SetMultipathTCP(false); the keepalive library's Dial, Dialer and Listen make plain TCP)")
	switch v.Ends {
	case "soon", "if the peer dies":
		for _, p := range []**seconds{&v.In, &v.Earliest, &v.Latest} {
			if *p != nil {
				*p = sec(time.Duration(**p) + ct)
			}
		}
		v.Cause += "; Multipath TCP: plus net.mptcp.close_timeout " + dur(ct)
	}
	return v
}

// explainListener describes a listening socket: why on its address finds
// no connection, and conns and ss list it.
func explainListener(c connInfo) verdict {
	v := verdict{Ends: "when closed", Cause: "listening: a listener accepts connections and is not one"}
	say := func(format string, a ...any) { v.Why = append(v.Why, fmt.Sprintf(format, a...)) }
	if len(c.Holders) == 0 {
		say("Held by: no process this command may inspect (run as root to see every process).")
	} else {
		say("Held by: %s.", holderSentence(c.Holders))
	}
	if c.AcceptQ != nil && c.Backlog != nil {
		say("Listening: %d connection(s) waiting to be accepted, of a backlog of %d.", *c.AcceptQ, *c.Backlog)
	}
	if c.Options != nil {
		ka := "off"
		if c.Keepalive == "on" {
			ka = fmt.Sprintf("on, idle %s, interval %s, %d probes", secs(time.Duration(c.Options.Idle)), secs(time.Duration(c.Options.Interval)), c.Options.Count)
		}
		say("Keepalive on the listener: %s; the connections it accepts start with these (Go's net package then sets its own, 15s/15s/9, unless ListenConfig.KeepAlive is negative).", ka)
	}
	if _, port, err := net.SplitHostPort(c.Local); err == nil {
		v.Todo = append(v.Todo, "keepalive conns --port "+port+" lists its connections; keepalive why "+c.Local+" explains them once there are any")
	}
	return v
}

// explainTCP is explain for the TCP connection (a Multipath TCP subflow
// as if it were one).
func explainTCP(c connInfo, peer *connInfo, sys keepalive.System, netns string) verdict {
	var v verdict
	say := func(format string, a ...any) { v.Why = append(v.Why, fmt.Sprintf(format, a...)) }
	killCmd := "keepalive why --kill " + c.Local + " " + c.Remote
	if netns != "" {
		killCmd = "keepalive why --netns " + netns + " --kill " + c.Local + " " + c.Remote
	}
	killTodo := killCmd + " ends it now (SOCK_DESTROY, as root): the peer receives a reset."

	// Holders.
	switch {
	case len(c.Holders) == 0 && c.Inode == 0:
		say("Held by: no process: its program closed it, and the kernel finishes the connection by itself.")
	case len(c.Holders) == 0 && os.Getuid() == 0:
		say("Held by: no process (waiting in its listener's accept queue, or closed by its program).")
	case len(c.Holders) == 0:
		say("Held by: no process this command may inspect (run as root to see every process).")
	default:
		say("Held by: %s.", holderSentence(c.Holders))
	}
	for _, f := range c.Flags {
		if !strings.HasPrefix(f, "held by ") { // the holder line says it
			say("Flag: %s.", f)
		}
	}
	// Keepalive and the values in force.
	var values *keepalive.Config
	if c.Options != nil {
		o := c.Options
		cfg := keepalive.Config{Idle: time.Duration(o.Idle), Interval: time.Duration(o.Interval), Count: o.Count, UserTimeout: time.Duration(o.UserTimeout)}
		values = &cfg
	}
	ut := "no user timeout"
	if values != nil && values.UserTimeout > 0 {
		ut = "user timeout " + dur(values.UserTimeout)
	}
	switch {
	case c.Keepalive == "on" && values != nil:
		say("Keepalive: on, idle %s, interval %s, %d probes, %s (read from the socket).", secs(values.Idle), secs(values.Interval), values.Count, ut)
	case c.Keepalive == "off" && values != nil:
		say("Keepalive: off (SO_KEEPALIVE not set); %s.", ut)
	case c.Keepalive == "on":
		// The system's values are only a program's default: not assumed.
		say("Keepalive: on (its timer runs); its values could not be read (%s), and a program may set its own instead of the system's.", c.OptionsError)
	default:
		say("Keepalive: %s (the values could not be read: %s).", c.Keepalive, c.OptionsError)
	}
	// Timer, probes, data.
	switch c.Timer {
	case "none":
		say("Timer: none running.")
	case "keepalive":
		say("Timer: the keepalive timer fires in %s; %d probe(s) unanswered.", dur(time.Duration(c.TimerIn)), c.Probes)
	case "retransmit":
		say("Timer: the retransmission timer fires in %s; %d retransmission(s) so far.", dur(time.Duration(c.TimerIn)), c.Retransmits)
	case "zero-window-probe":
		switch c.WindowProbes {
		case "answered":
			say("Timer: the window-probe timer fires in %s: the peer's receive window is closed, and its kernel answers the probes (none unanswered, the last answer %s ago).",
				dur(time.Duration(c.TimerIn)), dur(time.Duration(deref(c.LastAckRecv))))
		case "unanswered":
			say("Timer: the window-probe timer fires in %s: data waits to be sent, and nothing answers the probes (%d unanswered, nothing received for %s).",
				dur(time.Duration(c.TimerIn)), c.Probes, dur(time.Duration(deref(c.LastAckRecv))))
		default:
			say("Timer: the window-probe timer fires in %s: data waits to be sent; %d probe out, no answer yet.", dur(time.Duration(c.TimerIn)), c.Probes)
		}
	default:
		say("Timer: %s, fires in %s.", c.Timer, dur(time.Duration(c.TimerIn)))
	}
	if c.Unacked > 0 {
		say("Data: %d segment(s) sent and not acknowledged.", c.Unacked)
	} else {
		say("Data: nothing unacknowledged.")
	}
	if c.LastDataRecv != nil && c.LastAckRecv != nil {
		say("Last received: data %s ago, an acknowledgement %s ago.", dur(time.Duration(*c.LastDataRecv)), dur(time.Duration(*c.LastAckRecv)))
	} else {
		say("Last received: unknown (the kernel keeps no TCP information for this socket).")
	}

	// The verdict.
	switch c.State {
	case "established":
	case "close-wait":
		v.Ends, v.Cause = "when closed", "closed by the peer"
		say("The peer closed its end (FIN received); this end stays until its holders close it.")
		v.Todo = append(v.Todo, "the holding program should close the connection once it reads EOF", killTodo)
		if allOrphaned(c.Holders) {
			v.Ends, v.Cause = "never", "closed by the peer; this end is held by an orphaned process"
		}
		return v
	case "time-wait":
		v.Ends, v.Cause, v.From = "soon", "closed; waiting out TIME-WAIT", "now"
		v.In = sec(time.Duration(c.TimerIn))
		return v
	case "closed":
		// The kernel ended it (a timeout, a reset, SOCK_DESTROY); the
		// socket lasts until its holders close it.
		v.Ends, v.Cause = "when closed", "ended by the kernel; its holders have not closed it"
		say("The kernel has ended this connection; the socket stays until its holders close it.")
		v.Todo = append(v.Todo, "the holding program should close the connection once a call on it fails")
		return v
	default:
		v.Ends, v.Cause = "by itself", "closing or connecting: the kernel's own timers end it"
		return v
	}
	local := allOrphaned(c.Holders)
	remote := peer != nil && allOrphaned(peer.Holders)
	switch {
	case local:
		v.Ends, v.Cause = "never", "a local process still holds this end after its owner died"
		say("Why it stays: this end is held only by %s, left behind when the process that started it exited. "+
			"The kernel sends FIN only when the last holder closes the socket, so none was sent, and this host answers every keepalive probe from the peer: "+
			"no keepalive setting on the peer's side can end it.", holderSentence(c.Holders))
		if c.Keepalive == "on" {
			say("This end's own keepalive ends it only if the peer itself dies.")
		}
		v.Todo = append(v.Todo, killTodo)
		for _, h := range c.Holders {
			v.Todo = append(v.Todo, fmt.Sprintf("or end the holder: kill %d (%s)", h.PID, h.Command))
		}
		v.Todo = append(v.Todo, "fix the program: open sockets close-on-exec and pass a connection to a child (os/exec ExtraFiles, fork) only when the child is meant to own it")
		return v
	case remote:
		v.Ends, v.Cause = "never", "the peer answers because a process still holds the socket there"
		say("Why it stays: the other end (%s) is on this host, held only by %s, left behind when the process that started it exited: "+
			"it never reads or writes, yet its kernel answers every keepalive probe, so no keepalive setting ends this connection.", peer.Local, holderSentence(peer.Holders))
		v.Todo = append(v.Todo, killTodo, "or end the other end's holder (keepalive why "+peer.Local+" "+peer.Remote+")")
		return v
	case c.Timer == "zero-window-probe" && c.WindowProbes == "unanswered":
		return deadPath(v, c, values, sys, killTodo)
	case c.Timer == "zero-window-probe" && c.WindowProbes == "":
		v.Ends, v.Cause = "unknown", "a window probe is out, not answered yet"
		say("A window probe is out and its answer not yet seen: run again to tell a live peer that stopped reading (its kernel answers each probe) from data that cannot leave (the unanswered probes climb).")
		return v
	case c.Timer == "zero-window-probe":
		v.Cause = "the peer stopped reading (zero window)"
		d, ok := flightModel(values, sys, c)
		switch {
		case ok && d.ZeroWindowMax > 0 && d.ZeroWindowMax != keepalive.Never:
			v.Ends, v.From = "soon", "the window closing"
			v.In, v.Earliest, v.Latest = sec(d.ZeroWindowMax), sec(d.ZeroWindowMin), sec(d.ZeroWindowMax)
			say("The peer's process stopped reading; its kernel answers the window probes. The user timeout ends it %s to %s after the window closed on a write (the kernel does not report when that was).",
				dur(d.ZeroWindowMin), dur(d.ZeroWindowMax))
			return v
		case !ok || d.ZeroWindowMax == 0:
			v.Ends = "unknown"
			say("The peer's process stopped reading; its kernel answers the window probes: only a user timeout ends it, and this socket's could not be read.")
			return v
		}
		v.Ends = "never"
		say("The peer's process stopped reading; its kernel answers the window probes, so without a user timeout the kernel never gives up.")
		v.Todo = append(v.Todo, "set a user timeout with the library (keepalive.Config{UserTimeout: ...}.Apply(conn)): it ends a hung reader too", killTodo)
		return v
	case c.Unacked > 0 || c.Timer == "retransmit":
		v.Cause = "data in flight"
		if d, ok := flightModel(values, sys, c); ok && d.InFlightMax > 0 {
			v.Ends, v.From = "soon", "the write"
			v.Earliest, v.Latest, v.In = sec(d.InFlightMin), sec(d.InFlightMax), sec(d.InFlightMax)
			say("With data unacknowledged keepalive is suspended: if the peer stays silent, the kernel gives up %s to %s after the write it is retransmitting (RTO %s; the kernel does not report when the write was made).",
				dur(d.InFlightMin), dur(d.InFlightMax), dur(time.Duration(*c.RTOBase)))
		} else {
			v.Ends = "unknown"
			say("With data unacknowledged keepalive is suspended: the retransmission limit (tcp_retries2, or the user timeout) decides.")
		}
		return v
	case c.Keepalive == "off":
		v.Ends, v.Cause = "never", "keepalive off"
		say("Why it stays: keepalive is off and nothing is in flight, so nothing is ever sent: if the peer is gone, the kernel never notices. It stays ESTABLISHED until the program writes or closes.")
		v.Todo = append(v.Todo, "turn keepalive on with the library: cfg := keepalive.Config{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3}; cfg.Apply(conn), or cfg.Dial / cfg.Listen (keepalive plan --within 30s gives values for a deadline)",
			killTodo)
		return v
	case c.Keepalive == "on" && values != nil:
		d, err := values.Detection(sys)
		if err != nil {
			v.Ends, v.Cause = "unknown", "the library's model refused the values: "+err.Error()
			return v
		}
		lastData, lastAck := time.Duration(deref(c.LastDataRecv)), time.Duration(deref(c.LastAckRecv))
		since := min(lastAck, lastData)
		if c.Probes > 0 {
			v.Ends, v.Cause, v.From = "soon", "keepalive timeout: the peer does not answer", "now"
			v.In, v.Earliest, v.Latest = sec(max(0, d.Idle-since)), sec(max(0, d.IdleMin-since)), sec(max(0, d.IdleMax-since))
			say("The peer has not answered %d keepalive probe(s): unless it answers, the kernel drops the connection %s after the last segment it received, %s ago.", c.Probes, dur(d.Idle), dur(since))
			return v
		}
		v.Ends, v.Cause, v.From = "if the peer dies", "keepalive timeout", "the last segment received"
		v.In, v.Earliest, v.Latest = sec(d.Idle), sec(d.IdleMin), sec(d.IdleMax)
		say("The peer answers. If it dies or the path goes silent, the kernel drops the connection %s after the last segment received (between %s and %s with the timer rounding); the last came %s ago.",
			dur(d.Idle), dur(d.IdleMin), dur(d.IdleMax), dur(since))
		if lastData > values.Idle+values.Interval && lastAck < values.Idle {
			// Probes answered, no data: idle, or nobody there will ever use it.
			say("No data came from the peer for %s, but its kernel answered a keepalive probe %s ago: the socket is open there. "+
				"If no process there will use it again (a server killed while a child it started still holds the socket), "+
				"the peer answers because that process still holds the socket, which this side cannot see, and keepalive never ends the connection.",
				dur(lastData), dur(lastAck))
			v.Todo = append(v.Todo, "on the peer's host, keepalive why "+c.Remote+" shows who holds its end", killTodo)
		}
		return v
	case c.Keepalive == "on":
		v.Ends, v.Cause = "unknown", "keepalive on; its values could not be read"
		if c.Probes > 0 {
			v.Cause = "keepalive probes unanswered; the values could not be read"
			say("The peer has not answered %d keepalive probe(s): the kernel drops the connection once it has not answered the socket's count of them, which could not be read.", c.Probes)
		} else {
			say("When the kernel would end it if the peer died depends on the socket's idle, interval and count, which could not be read: run as root, or as the holder's user, to read them.")
		}
		return v
	}
	v.Ends, v.Cause = "unknown", "keepalive state unknown"
	return v
}
