package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keepalive-go/keepalive"
)

const connsAbout = `Lists this host's TCP connections (Linux sock_diag, INET_DIAG) with their
keepalive state: whether keepalive is on, when the kernel's keepalive timer
fires next, unanswered probes, retransmissions outstanding, and who holds
each socket: pid, command and fd of every process that has it open (the
socket's inode matched against /proc/*/fd, as ss -p does).

A connection is flagged when no holder is the process that holds its
listener or a descendant of it (a connection handed to an unrelated
process, or left with an old one after the server restarted), or when a
holder is an orphan: re-parented after the process that started it died,
without close-on-exec on the socket and without the listener, typically a
child that inherited a killed server's socket. keepalive why explains a
flagged connection, keepalive why --kill ends it.

The kernel does not report a socket's idle/interval/count/user timeout
through sock_diag. With --pid, the process's sockets are duplicated with
pidfd_getfd and read with getsockopt, which shows the values in effect and
the resulting detection time. That needs ptrace access to the process: your
own processes (unless kernel.yama.ptrace_scope forbids it), or root
(CAP_SYS_PTRACE) for others. The listing itself needs no privileges, but
without root only your own processes show as holders. It covers the
network namespace the command runs in, or the one --netns names (root).
Linux only: on other systems the command says so and exits with status 1.`

const connsExample = `  keepalive conns --state established
  keepalive conns --port 5432 --pid $(pgrep -o myserver)
  keepalive conns --pid 1234 --json | jq '.connections[] | select(.keepalive == "off")'
  sudo keepalive conns --netns 4321 --state established`

// tcpStates are the kernel's TCP states (include/net/tcp_states.h), indexed
// by number, in the library's words (keepalive.State), so that conns, why
// and the library name a state alike.
var tcpStates = func() []string {
	states := []keepalive.State{1: keepalive.StateEstablished, 2: keepalive.StateSynSent, 3: keepalive.StateSynReceived,
		4: keepalive.StateFinWait1, 5: keepalive.StateFinWait2, 6: keepalive.StateTimeWait, 7: keepalive.StateClosed,
		8: keepalive.StateCloseWait, 9: keepalive.StateLastAck, 10: keepalive.StateListen, 11: keepalive.StateClosing}
	names := make([]string, len(states))
	for i, s := range states[1:] {
		names[i+1] = s.String()
	}
	return names
}()

// ssStates are ss's names where they differ, accepted by --state too.
var ssStates = map[string]string{"syn-recv": "syn-received", "close": "closed"}

// connFilter selects connections.
type connFilter struct {
	port   int          // local or remote port; 0: any
	states map[int]bool // nil: any
	pid    int          // only this process's sockets, with their options; 0: any process
	netns  string       // --netns: a name under /run/netns or a PID; "": this process's
}

// holder is a process that has a socket open.
type holder struct {
	PID     int    `json:"pid"`
	FD      int    `json:"fd"`
	Command string `json:"command"`
	PPID    int    `json:"ppid"`
	// Orphaned: the process was re-parented to init, or its process
	// group's leader is gone and its parent is outside its group (a
	// subreaper), while it leads no group itself; its
	// descriptor lacks close-on-exec, so it may have inherited it; and it
	// does not hold the connection's listener (gone, or held by other
	// processes only): a child left behind by a server that died.
	Orphaned bool `json:"orphaned"`
}

func (h holder) String() string {
	s := fmt.Sprintf("%s[%d] fd %d", printable(h.Command), h.PID, h.FD)
	if h.Orphaned {
		s += " (orphaned)"
	}
	return s
}

// connInfo is one connection as the kernel reports it.
type connInfo struct {
	State  string `json:"state"`
	Local  string `json:"local"`
	Remote string `json:"remote"`
	UID    uint32 `json:"uid"`
	Inode  uint32 `json:"inode"`
	// Keepalive is "on" or "off" (read with --pid, or inferred from the
	// keepalive timer of an ESTABLISHED socket), or "unknown".
	Keepalive string `json:"keepalive"`
	// Timer is the kernel's pending timer (idiag_timer): "keepalive",
	// "retransmit", "time-wait", "zero-window-probe" or "none"; TimerIn is
	// when it fires (idiag_expires).
	Timer   string  `json:"timer"`
	TimerIn seconds `json:"timer_in_s"`
	// DiagRetrans is idiag_retrans: unanswered keepalive (or window)
	// probes for those timers, retransmissions for the retransmit timer
	// (ss's third timer field).
	DiagRetrans int `json:"idiag_retrans"`
	Probes      int `json:"probes"`      // tcpi_probes: unanswered keepalive (or window) probes
	Retransmits int `json:"retransmits"` // tcpi_retransmits: retransmissions outstanding
	Unacked     int `json:"unacked"`     // tcpi_unacked: segments sent and not acknowledged (0 on a listener)
	// WindowProbes, with the zero-window-probe (persist) timer: "answered"
	// when the peer's kernel answers the window probes (a live peer whose
	// window is closed: it stopped reading), "unanswered" when nothing
	// comes back (the data cannot leave: this host's link or route is
	// down, or the path or the peer's host is gone).
	WindowProbes string `json:"window_probes,omitempty"`
	// SendQ and RecvQ are ss's Send-Q and Recv-Q of a connection: bytes
	// written and not yet acknowledged (sent or not), and bytes received
	// and not yet read. A listener has AcceptQ (connections waiting for
	// accept) and Backlog (its limit) instead, which ss shows there.
	SendQ   *uint32 `json:"send_queue_bytes,omitempty"`
	RecvQ   *uint32 `json:"recv_queue_bytes,omitempty"`
	AcceptQ *uint32 `json:"accept_queue,omitempty"`
	Backlog *uint32 `json:"accept_backlog,omitempty"`
	// The rest is the kernel's tcp_info, left out for a socket that has
	// none (TIME-WAIT, and FIN-WAIT-2 after its holders closed it): not
	// zero, unknown.
	//
	// LastDataRecv and LastAckRecv: time since data, and since any
	// acknowledgement (a probe's answer), was last received.
	LastDataRecv *seconds `json:"last_data_received_s,omitempty"`
	LastAckRecv  *seconds `json:"last_ack_received_s,omitempty"`
	// RTO is the retransmission timeout in force, backed off while
	// retransmitting (tcpi_rto, ss's rto); Backoff is tcpi_backoff, the
	// number of times the retransmission or window-probe timer backed off.
	// RTOBase is the RTO the write started with, the System.RTO of the
	// library's in-flight and zero-window model: RTO >> Backoff while the
	// retransmit timer runs, RTO itself otherwise (the window-probe timer
	// backs off its own interval, not the RTO).
	RTO     *seconds `json:"rto_s,omitempty"`
	RTOBase *seconds `json:"rto_base_s,omitempty"`
	Backoff *int     `json:"backoff,omitempty"`
	// Holders are the processes with the socket open; empty for a socket
	// no process holds (closed, the kernel finishing it) or one held only
	// by processes this one may not inspect (see the notes).
	Holders []holder `json:"holders"`
	// Flags say, in words, why the connection may never end by itself.
	Flags []string `json:"flags,omitempty"`
	// ListenerHolders: pids holding the listener this connection was
	// accepted from, when it still exists.
	ListenerHolders []int `json:"listener_holders,omitempty"`

	id sockID // to end it with SOCK_DESTROY

	// MultipathTCP: a subflow of a Linux Multipath TCP connection (the
	// dump's INET_DIAG_ULP_INFO names "mptcp", or the holder's socket is
	// one, read with --pid or by why): keepalive and the user timeout act
	// on this subflow only, and the connection outlives the subflow by
	// MPTCPCloseTimeout, net.mptcp.close_timeout of its namespace.
	MultipathTCP      bool     `json:"multipath_tcp,omitempty"`
	MPTCPCloseTimeout *seconds `json:"mptcp_close_timeout_s,omitempty"`

	// With --pid:
	FD           *int        `json:"fd,omitempty"`
	Options      *jsonConfig `json:"options,omitempty"`   // what getsockopt reads on the socket
	Detection    *model      `json:"detection,omitempty"` // the library's model for Options, if keepalive is on
	OptionsError string      `json:"options_error,omitempty"`
}

type connsJSON struct {
	Connections []connInfo `json:"connections"`
	Notes       []string   `json:"notes,omitempty"`
}

func runConns(stdout, stderr io.Writer, args []string) int {
	fs := newFlags(stdout, "conns", "[--port N] [--state S[,S]] [--pid PID] [--netns NAME|PID] [--json]", connsAbout, connsExample)
	port := fs.Int("port", 0, "only connections with this local or remote port")
	states := fs.String("state", "", "only these states, comma-separated: "+strings.Join(tcpStates[1:], ", ")+" (ss's close and syn-recv too)")
	pid := fs.Int("pid", 0, "only this process's sockets, with their keepalive options (pidfd_getfd; see above for privileges)")
	netns := fs.String("netns", "", "list the connections of another network namespace: a name under /run/netns or a process ID (needs root)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if code, ok := fs.parse(stderr, args); !ok {
		return code
	}
	f := connFilter{port: *port, pid: *pid, netns: *netns}
	if f.netns != "" {
		if _, err := netnsPath(f.netns); err != nil {
			fmt.Fprintf(stderr, "keepalive conns: %v\n", err)
			return exitUsage
		}
	}
	if f.port < 0 || f.port > 65535 {
		fmt.Fprintf(stderr, "keepalive conns: --port %d outside 1..65535\n", f.port)
		return exitUsage
	}
	if f.pid < 0 {
		fmt.Fprintf(stderr, "keepalive conns: --pid %d: a process ID is positive\n", f.pid)
		return exitUsage
	}
	if *states != "" {
		f.states = map[int]bool{}
		for s := range strings.SplitSeq(*states, ",") {
			name := strings.ToLower(strings.TrimSpace(s))
			if alias, ok := ssStates[name]; ok {
				name = alias
			}
			i := slices.Index(tcpStates, name)
			if i <= 0 {
				fmt.Fprintf(stderr, "keepalive conns: --state %q: not a TCP state; one of %s\n", s, strings.Join(tcpStates[1:], ", "))
				return exitUsage
			}
			f.states[i] = true
		}
	}
	conns, notes, err := listConns(f)
	if err != nil {
		return fail(stderr, "conns", err)
	}
	if *asJSON {
		if conns == nil {
			conns = []connInfo{}
		}
		if err := writeJSON(stdout, connsJSON{conns, notes}); err != nil {
			return fail(stderr, "conns", err)
		}
		return exitOK
	}
	printConns(stdout, conns, f.pid != 0)
	for _, c := range conns {
		for _, fl := range c.Flags {
			fmt.Fprintf(stdout, "! %s -> %s: %s\n", c.Local, c.Remote, printable(fl))
		}
	}
	for _, n := range notes {
		fmt.Fprintln(stdout, "note: "+n)
	}
	return exitOK
}

// sockID is what SOCK_DESTROY needs to find exactly one socket: the
// addresses as sock_diag reported them (an IPv4-mapped address stays
// IPv6), the interface and the cookie, which no later socket reuses.
type sockID struct {
	family       uint8
	src, dst     [16]byte
	sport, dport uint16
	ifindex      uint32
	cookie       [2]uint32
}

// netnsPath resolves --netns: a PID names that process's namespace, any
// other value a namespace made by `ip netns add` under /run/netns.
func netnsPath(spec string) (string, error) {
	if pid, err := strconv.Atoi(spec); err == nil {
		switch {
		case pid <= 0:
			return "", fmt.Errorf("--netns %s: a process ID is positive", spec)
		case strconv.Itoa(pid) != spec: // 007, +1: /proc has no such name
			return "", fmt.Errorf("--netns %q: a process ID is written without a sign or leading zeros (%d)", spec, pid)
		}
		return "/proc/" + spec + "/ns/net", nil
	}
	if spec == "" || strings.ContainsRune(spec, '/') || spec == "." || spec == ".." {
		return "", fmt.Errorf("--netns %q: give a name under /run/netns (ip netns list) or a process ID", spec)
	}
	return "/run/netns/" + spec, nil
}

func printConns(w io.Writer, conns []connInfo, withOptions bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "STATE\tLOCAL\tREMOTE\tKEEPALIVE\tTIMER\tPROBES\tRETRANS\tUNACKED"
	if withOptions {
		head += "\tFD\tIDLE\tINTERVAL\tCOUNT\tUSER-TIMEOUT\tDEAD PEER DETECTED (IDLE, WORST)"
	}
	head += "\tHOLDERS"
	fmt.Fprintln(tw, head)
	for _, c := range conns {
		timer := timerText(c)
		ka := c.Keepalive
		if c.MultipathTCP {
			ka += " (Multipath TCP: subflow only)"
		}
		unacked := strconv.Itoa(c.Unacked)
		if c.State == "listen" { // the kernel's tcpi_unacked there is the accept queue
			unacked = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s", c.State, c.Local, c.Remote, ka, timer, c.Probes, c.Retransmits, unacked)
		if withOptions {
			switch {
			case c.Options != nil:
				o := c.Options
				det := "never (SO_KEEPALIVE off)"
				switch {
				case c.MultipathTCP && c.Keepalive == "on":
					det = "not bounded: Multipath TCP outlives the subflow by net.mptcp.close_timeout"
				case c.Detection != nil:
					det = c.Detection.idleText() + ", " + dur(time.Duration(c.Detection.Worst))
				}
				ut := "off"
				if o.UserTimeout > 0 {
					ut = dur(time.Duration(o.UserTimeout))
				}
				fmt.Fprintf(tw, "\t%s\t%s\t%s\t%d\t%s\t%s", fdString(c.FD), secs(time.Duration(o.Idle)), secs(time.Duration(o.Interval)), o.Count, ut, det)
			default:
				fmt.Fprintf(tw, "\t%s\t?\t?\t?\t?\t%s", fdString(c.FD), oneLine(c.OptionsError))
			}
		}
		fmt.Fprintf(tw, "\t%s\n", holdersText(c.Holders))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d connection(s)\n", len(conns))
}

// holdersText lists holders for a table cell: sleep[4242] fd 3 (orphaned).
func holdersText(hs []holder) string {
	if len(hs) == 0 {
		return "-"
	}
	var b strings.Builder
	for i, h := range hs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(h.String())
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }

// printable is s for a terminal, as ps prints a command name: a byte that
// is not printable (an escape sequence, a newline, invalid UTF-8) becomes
// '?'. A process names itself, through a symlink for one, and its name
// must neither drive the operator's terminal nor forge a line.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}

// windowProbes tells, for a socket whose window-probe (persist) timer
// runs, whether anything answers its probes. Each answer resets
// tcpi_probes, so a live peer whose window is closed shows none
// unanswered and an acknowledgement within the last probe interval
// (tcp_probe0_base, max(RTO, 200 ms), doubled per backoff up to rtoMax);
// when the data cannot leave, or nothing comes back, the count climbs and
// nothing arrives. With one probe out and an answer recent it cannot tell
// yet: "".
func windowProbes(c connInfo, rtoMax time.Duration) string {
	if c.Timer != "zero-window-probe" || c.RTO == nil || c.Backoff == nil || c.LastAckRecv == nil {
		return ""
	}
	if rtoMax <= 0 {
		rtoMax = 120 * time.Second
	}
	interval := max(time.Duration(*c.RTO), 200*time.Millisecond)
	for range min(*c.Backoff, 10) { // tcp_probe0_when: at most ilog2(120 s / 200 ms) + 1
		interval = min(2*interval, rtoMax)
	}
	recent := time.Duration(*c.LastAckRecv) <= interval+time.Second
	switch {
	case c.Probes >= 2 || !recent:
		return "unanswered"
	case c.Probes == 0:
		return "answered"
	}
	return ""
}

// timerText is the TIMER cell of conns: the timer, when it fires, and for
// the window-probe timer whether anything answers.
func timerText(c connInfo) string {
	if c.Timer == "none" {
		return "-"
	}
	if c.Timer != "zero-window-probe" {
		return c.Timer + " " + dur(time.Duration(c.TimerIn))
	}
	s := "window-probe " + dur(time.Duration(c.TimerIn))
	switch c.WindowProbes {
	case "answered":
		return s + " (answered)"
	case "unanswered":
		return fmt.Sprintf("%s (%d unanswered)", s, c.Probes)
	}
	return s + " (1 out)"
}

func fdString(fd *int) string {
	if fd == nil {
		return "-"
	}
	return strconv.Itoa(*fd)
}
