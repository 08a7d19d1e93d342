package faultlab

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/keepalive-go/keepalive"
)

const s = time.Second

// The Configs the cases use: seconds, so that all cases, in parallel,
// take about 20 s. shortNever would find a dead peer in 3 s (IdleMax
// 3.4 s): its cases wait 10 s, about three times that.
var (
	idleConfig = keepalive.Config{Idle: 2 * s, Interval: s, Count: 3}                     // model 5 s
	utConfig   = keepalive.Config{Idle: 2 * s, Interval: s, Count: 3, UserTimeout: 3 * s} // in flight: 3 s
	shortNever = keepalive.Config{Idle: s, Interval: s, Count: 2}                         // model 3 s
	natConfig  = keepalive.Config{Idle: 6 * s, Interval: s, Count: 3}                     // Idle above the NAT's 4 s
	natTimeout = NAT{EstablishedTimeout: 4 * s, Unknown: Drop}                            // forgets idle flows after 4 s
	natReset   = NAT{EstablishedTimeout: 4 * s, Unknown: Reset}                           // and resets them
)

var (
	timedOut  = []error{syscall.ETIMEDOUT}
	stillOpen = []error{os.ErrDeadlineExceeded}
	eof       = []error{io.EOF}
)

// mptcpDialer is the library's Dialer over a base that asks for Multipath TCP.
func mptcpDialer(c keepalive.Config) DialFunc {
	base := &net.Dialer{}
	base.SetMultipathTCP(true)
	return c.Dialer(base).DialContext
}

// goMPTCP is Go's own Multipath TCP dialer with c's keepalive values.
func goMPTCP(c keepalive.Config) DialFunc {
	d := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: c.Idle, Interval: c.Interval, Count: c.Count}}
	d.SetMultipathTCP(true)
	return d.DialContext
}

func linkDown(side Side) func(*Topology, *Peer, string) error {
	return func(t *Topology, _ *Peer, _ string) error { return t.LinkDown(side) }
}

func route(side Side, kind string) func(*Topology, *Peer, string) error {
	return func(t *Topology, _ *Peer, network string) error { return t.Route(side, kind, network) }
}

func filter(side Side, hook, rule string) func(*Topology, *Peer, string) error {
	return func(t *Topology, _ *Peer, _ string) error { return t.Filter(side, hook, rule) }
}

func signal(sig syscall.Signal) func(*Topology, *Peer, string) error {
	return func(_ *Topology, p *Peer, _ string) error { return p.Signal(sig) }
}

// hostGone deletes the server's interface, then kills its process: nothing
// it could still send (a FIN, a reset) gets out.
func hostGone(t *Topology, p *Peer, _ string) error {
	if err := t.DeleteLink(Server); err != nil {
		return err
	}
	return p.Signal(syscall.SIGKILL)
}

// killHolderAndDestroy kills the peer whose child holds the socket, then
// destroys the socket on the holder's side with ss -K (SOCK_DESTROY).
func killHolderAndDestroy(t *Topology, p *Peer, network string) error {
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	return run("ip", "netns", "exec", t.Server, "ss", "-K", "dst", t.PeerIP(Server, network))
}

// Cases are the failures of issue 11, scenarios 1 to 6, and the lab's
// other faults, with what each must do.
var Cases = []*Case{
	// 1. Own link down (the report's "ifconfig wlan0 down").
	{Name: "own link down, idle", Config: idleConfig, Fault: linkDown(Client), Bound: IdleBound, Errors: timedOut, Detects: "keepalive probes", IPv6: true, Errors6: []error{syscall.ENETUNREACH}},
	{Name: "own link down, no SO_KEEPALIVE, writing every 250 ms", Plain: true, Load: Trickle, Fault: linkDown(Client), Bound: Never, Wait: 6 * s, Errors: stillOpen, Detects: "nothing (writes keep succeeding)"},
	{Name: "own link down, write after it, UserTimeout 3s", Config: utConfig, Load: Send, Fault: linkDown(Client), Bound: InFlightBound, Errors: timedOut, Detects: "TCP_USER_TIMEOUT (window probes: the data never left)"},
	{Name: "own link down, blocked writer and reader, UserTimeout 3s", Config: utConfig, Load: Flood, Fault: linkDown(Client), Bound: InFlightBound, Errors: timedOut, Detects: "TCP_USER_TIMEOUT; one blocked call gets the error, the other EOF"},
	{Name: "own link down, write after it, tcp_retries2 3", Config: idleConfig, Load: Send, Fault: linkDown(Client),
		Sysctls: map[string]string{"net/ipv4/tcp_retries2": "3"}, System: keepalive.System{Retries2: 3}, Bound: InFlightBound, Errors: timedOut, Detects: "tcp_retries2 (window probes)"},
	// 2. Far end's link down (the cable pulled at the peer).
	{Name: "far end's link down, idle", Config: idleConfig, Fault: linkDown(Server), Bound: IdleBound, Errors: timedOut, Detects: "keepalive probes"},
	{Name: "far end's link down, write after it, UserTimeout 3s", Config: utConfig, Load: Send, Fault: linkDown(Server), Bound: InFlightBound, Errors: []error{syscall.ETIMEDOUT, syscall.EHOSTUNREACH}, Detects: "TCP_USER_TIMEOUT", IPv6: true},
	// 7. Multipath TCP (the lab's listener is Go's default, Multipath TCP).
	{Name: "far end's link down, idle, Dialer over a Multipath TCP base", Config: idleConfig, Dialer: mptcpDialer, Fault: linkDown(Server), Bound: IdleBound, Errors: timedOut, Detects: "keepalive probes (Dialer dials plain TCP)"},
	{Name: "far end's link down, write after it, UserTimeout 3s, Dialer over a Multipath TCP base", Config: utConfig, Dialer: mptcpDialer, Load: Send, Fault: linkDown(Server), Bound: InFlightBound, Errors: []error{syscall.ETIMEDOUT, syscall.EHOSTUNREACH}, Detects: "TCP_USER_TIMEOUT (Dialer dials plain TCP)"},
	{Name: "far end's link down, idle, Multipath TCP with Go's keepalive at the same values", Config: idleConfig, Dialer: goMPTCP, Fault: linkDown(Server), Bound: Never, Wait: 10 * s, Errors: stillOpen, SubflowClosed: true,
		Detects: "nothing for net.mptcp.close_timeout (60 s): keepalive closed the subflow, the connection waits"},
	// 3. Peer host gone: interface deleted, process killed.
	{Name: "peer host gone behind a bridge, idle", Peer: Reads, Config: idleConfig, Fault: hostGone, Bound: IdleBound, Errors: timedOut, Detects: "keepalive probes"},
	{Name: "peer host gone behind a router, idle", Routed: true, Peer: Reads, Config: idleConfig, Fault: hostGone, Bound: IdleBound, Errors: timedOut, Detects: "keepalive probes"},
	{Name: "peer host gone behind a bridge, write after it, UserTimeout 3s", Peer: Reads, Config: utConfig, Load: Send, Fault: hostGone, Bound: InFlightBound, Errors: []error{syscall.ETIMEDOUT, syscall.EHOSTUNREACH}, Detects: "TCP_USER_TIMEOUT"},
	{Name: "peer host gone behind a router, write after it, UserTimeout 3s", Routed: true, Peer: Reads, Config: utConfig, Load: Send, Fault: hostGone, Bound: InFlightBound, Errors: []error{syscall.ETIMEDOUT, syscall.ENETUNREACH}, Detects: "TCP_USER_TIMEOUT (the router's ICMP re-arms the timer unclamped)"},
	// 4. A NAT that forgets idle flows after 4 s (keeping it alive: the
	// tests' Within case).
	{Name: "NAT forgets the flow (4 s), unknown flows dropped, Idle 6s", Routed: true, NAT: natTimeout, Config: natConfig, Bound: IdleBound, Errors: timedOut, Detects: "keepalive probes"},
	{Name: "NAT forgets the flow (4 s), unknown flows reset, Idle 6s", Routed: true, NAT: natReset, Config: natConfig, Bound: FirstProbe, Errors: []error{syscall.ECONNRESET}, Detects: "the first keepalive probe after expiry (reset)", IPv6: true},
	// 5. Hung peer: stops reading, or is stopped.
	{Name: "peer stops reading, idle", Config: shortNever, Bound: Never, Wait: 10 * s, Errors: stillOpen, Detects: "nothing (probes answered)", ProbesAnswered: true},
	{Name: "peer stops reading, writer fills the window, UserTimeout 3s", Config: utConfig, Load: Flood, Bound: ZeroWindowBound, Errors: timedOut, Detects: "TCP_USER_TIMEOUT (zero window)"},
	{Name: "peer stops reading, writer fills the window, no UserTimeout", Config: idleConfig, Load: Flood, Bound: Never, Wait: 8 * s, Errors: stillOpen, ReaderErrors: stillOpen, Detects: "nothing (window probes answered)"},
	{Name: "peer process stopped (SIGSTOP), writer fills the window, UserTimeout 3s", Peer: Reads, Config: utConfig, Load: Flood, Fault: signal(syscall.SIGSTOP), Bound: ZeroWindowBound, Errors: timedOut, Detects: "TCP_USER_TIMEOUT (zero window)"},
	// 6. kill -9.
	{Name: "peer process killed (kill -9)", Peer: Reads, Config: idleConfig, Fault: signal(syscall.SIGKILL), Bound: AtOnce, Errors: eof, Detects: "the peer kernel's FIN"},
	{Name: "peer process killed (kill -9), socket held by its child", Peer: Inherits, Config: shortNever, Fault: signal(syscall.SIGKILL), Bound: Never, Wait: 10 * s, Errors: stillOpen, Detects: "nothing (no FIN, probes answered)", ProbesAnswered: true},
	{Name: "peer process killed, socket held by its child, ss -K there", Peer: Inherits, Config: shortNever, Fault: killHolderAndDestroy, Bound: AtOnce, Errors: []error{syscall.ECONNRESET}, Detects: "ss -K on the holder's side (reset)"},
	// The lab's other faults.
	{Name: "peer drops everything (nft drop), idle", Config: idleConfig, Fault: filter(Server, "input", "drop"), Bound: IdleBound, Errors: timedOut, Detects: "keepalive probes"},
	{Name: "peer's route back blackholed, write, UserTimeout 3s", Config: utConfig, Load: Send, Fault: route(Server, "blackhole"), Bound: InFlightBound, Errors: timedOut, Detects: "TCP_USER_TIMEOUT"},
	{Name: "own route blackhole, write after it, UserTimeout 3s", Config: utConfig, Load: Send, Fault: route(Client, "blackhole"), Bound: InFlightBound, Errors: timedOut, Detects: "TCP_USER_TIMEOUT (window probes: the data never left)"},
	{Name: "own route blackhole, data in flight, UserTimeout 3s", Silenced: true, Config: utConfig, Load: SendFirst, Fault: route(Client, "blackhole"), Bound: InFlightBound, Errors: []error{syscall.EINVAL}, Detects: "TCP_USER_TIMEOUT"},
	{Name: "own route unreachable, data in flight, UserTimeout 3s", Silenced: true, Config: utConfig, Load: SendFirst, Fault: route(Client, "unreachable"), Bound: InFlightBound, Errors: []error{syscall.EHOSTUNREACH}, Detects: "TCP_USER_TIMEOUT"},
	{Name: "own route prohibit, data in flight, UserTimeout 3s", Silenced: true, Config: utConfig, Load: SendFirst, Fault: route(Client, "prohibit"), Bound: InFlightBound, Errors: []error{syscall.EACCES}, Detects: "TCP_USER_TIMEOUT"},
	{Name: "own link down, data in flight, UserTimeout 3s", Silenced: true, Config: utConfig, Load: SendFirst, Fault: linkDown(Client), Bound: InFlightBound, Errors: []error{syscall.ENETUNREACH}, Detects: "TCP_USER_TIMEOUT"},
	{Name: "own output dropped (nft drop), write after it, UserTimeout 3s", Config: utConfig, Load: Send, Fault: filter(Client, "output", "drop"), Bound: InFlightBound, Errors: timedOut, Detects: "TCP_USER_TIMEOUT (window probes: the data never left)"},
	{Name: "peer rejects (nft reject with tcp reset), idle", Config: idleConfig, Fault: filter(Server, "input", "reject with tcp reset"), Bound: FirstProbe, Errors: []error{syscall.ECONNRESET}, Detects: "the first keepalive probe (reset)"},
}
