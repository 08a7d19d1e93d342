package faultlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Available reports what the lab lacks here, or nil: root (CAP_NET_ADMIN)
// and the ip and nft commands.
func Available() error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (CAP_NET_ADMIN, to make network namespaces)")
	}
	for _, cmd := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, "the "+cmd+" command (Debian: apt-get install "+map[string]string{"ip": "iproute2", "nft": "nftables"}[cmd]+")")
		}
	}
	if len(missing) > 0 {
		return errors.New("faultlab: needs " + strings.Join(missing, " and "))
	}
	return nil
}

var (
	labs      atomic.Int64
	sweepOnce sync.Once
)

// sweep deletes the namespace names that labs of processes no longer
// running left behind (a test binary killed before its cleanup).
func sweep() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		var pid, n int
		var side string
		if _, err := fmt.Sscanf(e.Name(), "kalab%d-%d-%s", &pid, &n, &side); err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			_ = run("ip", "netns", "del", e.Name())
		}
	}
}

// Lab is the namespaces and processes of one test. Close removes them.
type Lab struct {
	prefix string

	mu    sync.Mutex
	nss   []string
	procs []*exec.Cmd // killed with their process group
}

// New returns an empty lab whose names no other lab in any process shares.
func New() (*Lab, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	sweepOnce.Do(sweep)
	return &Lab{prefix: fmt.Sprintf("kalab%d-%d", os.Getpid(), labs.Add(1))}, nil
}

// Close kills the lab's processes (with their children) and deletes its
// namespaces. A namespace lives on while a process is in it, so the
// processes go first; ip netns del only removes the name.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, cmd := range l.procs {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Process.Kill()
		_ = cmd.Wait() // and close its stdout pipe
	}
	l.procs = nil
	var errs []error
	for _, ns := range l.nss {
		if err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	l.nss = nil
	return errors.Join(errs...)
}

// Namespace makes a network namespace named after the lab and name, with
// loopback up.
func (l *Lab) Namespace(name string) (string, error) {
	ns := l.prefix + "-" + name
	if err := run("ip", "netns", "add", ns); err != nil {
		return "", err
	}
	l.mu.Lock()
	l.nss = append(l.nss, ns)
	l.mu.Unlock()
	return ns, IP(ns, "link set lo up")
}

// IP runs ip -n ns with args (split at spaces).
func IP(ns, args string) error {
	return run("ip", append([]string{"-n", ns}, strings.Fields(args)...)...)
}

// NFT loads an nftables ruleset (nft -f syntax) into ns.
func NFT(ns, ruleset string) error {
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("faultlab: nft in %s: %v: %s\n%s", ns, err, bytes.TrimSpace(out), ruleset)
	}
	return nil
}

// Sysctl sets a sysctl (a name like "net/ipv4/tcp_retries2") in ns.
func Sysctl(ns, name, value string) error {
	return Do(ns, func() error {
		if err := os.WriteFile("/proc/sys/"+name, []byte(value), 0o644); err != nil {
			return fmt.Errorf("faultlab: sysctl %s=%s in %s: %w", name, value, ns, err)
		}
		return nil
	})
}

func run(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("faultlab: %s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Do runs fn on an OS thread switched into ns, so the sockets fn creates
// belong to ns (a socket stays in the namespace it was created in). The
// thread goes back to its own namespace before it is released; if it
// cannot, it stays locked and dies with the goroutine.
func Do(ns string, fn func() error) error {
	runtime.LockOSThread()
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("faultlab: this thread's network namespace: %w", err)
	}
	defer unix.Close(self)
	target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("faultlab: namespace %s: %w", ns, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("faultlab: setns %s: %w", ns, err)
	}
	ferr := fn()
	if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
		return errors.Join(ferr, fmt.Errorf("faultlab: back from %s: %w", ns, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Side is one end of a Topology.
type Side int

const (
	Client Side = iota // the namespace that dials
	Server             // the namespace that listens
)

// Topology is a client and a server namespace, each with one interface,
// eth0, joined through a middle namespace (a bridge or a router), whose
// interfaces towards them are named "c" and "s".
type Topology struct {
	lab                  *Lab
	Client, Server, Mid  string // namespace names
	ClientIP, ServerIP   string // IPv4
	ClientIP6, ServerIP6 string // IPv6 (ULA)
}

// NS is the namespace of side.
func (t *Topology) NS(s Side) string {
	if s == Client {
		return t.Client
	}
	return t.Server
}

// Addr is the server's address for network ("tcp4" or "tcp6") and port.
func (t *Topology) Addr(network string, port int) string {
	if network == "tcp6" {
		return net.JoinHostPort(t.ServerIP6, fmt.Sprint(port))
	}
	return net.JoinHostPort(t.ServerIP, fmt.Sprint(port))
}

// PeerIP is the address side's peer has, as side sees it: the router's
// for the server when there is masquerade.
func (t *Topology) PeerIP(s Side, network string) string {
	switch {
	case s == Client && network == "tcp6":
		return t.ServerIP6
	case s == Client:
		return t.ServerIP
	case network == "tcp6":
		return t.ClientIP6
	default:
		return t.ClientIP
	}
}

func (l *Lab) ends(mid string) (*Topology, error) {
	t := &Topology{lab: l}
	var err error
	for _, p := range []*string{&t.Client, &t.Server, &t.Mid} {
		name := map[*string]string{&t.Client: "c", &t.Server: "s", &t.Mid: mid}[p]
		if *p, err = l.Namespace(name); err != nil {
			return nil, err
		}
	}
	for _, side := range []struct{ ns, peer string }{{t.Client, "c"}, {t.Server, "s"}} {
		if err := IP(side.ns, "link add eth0 type veth peer name "+side.peer+" netns "+t.Mid); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Bridged joins the client (10.71.0.1, fd71::1) and the server (10.71.0.2,
// fd71::2) through a bridge, as on one LAN.
func (l *Lab) Bridged() (*Topology, error) {
	t, err := l.ends("br")
	if err != nil {
		return nil, err
	}
	t.ClientIP, t.ServerIP, t.ClientIP6, t.ServerIP6 = "10.71.0.1", "10.71.0.2", "fd71::1", "fd71::2"
	return t, all(
		IP(t.Mid, "link add br0 type bridge"),
		IP(t.Mid, "link set c master br0"),
		IP(t.Mid, "link set s master br0"),
		IP(t.Mid, "link set br0 up"),
		IP(t.Mid, "link set c up"),
		IP(t.Mid, "link set s up"),
		ipUp(t.Client, t.ClientIP+"/24", t.ClientIP6+"/64", "", ""),
		ipUp(t.Server, t.ServerIP+"/24", t.ServerIP6+"/64", "", ""),
		t.waitUp(),
	)
}

// Unknown is what a router does with a packet of a flow conntrack does not
// know (one it has forgotten).
type Unknown int

const (
	Forward Unknown = iota // no rule: the next packet makes a new entry (tcp_loose=1)
	Drop                   // ct state invalid drop, tcp_loose=0
	Reset                  // ct state invalid: reject with a TCP reset, tcp_loose=0
)

// NAT is a router's conntrack: masquerade towards the server, established
// flows forgotten after EstablishedTimeout (zero: the kernel's 5 days).
type NAT struct {
	EstablishedTimeout time.Duration
	Unknown            Unknown
}

// Routed joins the client (10.72.1.2, fd72:1::2) and the server (10.72.2.2,
// fd72:2::2) through a router (10.72.1.1 and 10.72.2.1) that masquerades
// the client's flows towards the server, with conntrack as nat says.
func (l *Lab) Routed(nat NAT) (*Topology, error) {
	t, err := l.ends("rt")
	if err != nil {
		return nil, err
	}
	t.ClientIP, t.ServerIP, t.ClientIP6, t.ServerIP6 = "10.72.1.2", "10.72.2.2", "fd72:1::2", "fd72:2::2"
	if err := all(
		ipUp(t.Client, t.ClientIP+"/24", t.ClientIP6+"/64", "10.72.1.1", "fd72:1::1"),
		ipUp(t.Server, t.ServerIP+"/24", t.ServerIP6+"/64", "10.72.2.1", "fd72:2::1"),
		IP(t.Mid, "addr add 10.72.1.1/24 dev c"),
		IP(t.Mid, "addr add fd72:1::1/64 dev c nodad"),
		IP(t.Mid, "addr add 10.72.2.1/24 dev s"),
		IP(t.Mid, "addr add fd72:2::1/64 dev s nodad"),
		IP(t.Mid, "link set c up"),
		IP(t.Mid, "link set s up"),
		Sysctl(t.Mid, "net/ipv4/ip_forward", "1"),
		Sysctl(t.Mid, "net/ipv6/conf/all/forwarding", "1"),
		t.waitUp(),
	); err != nil {
		return nil, err
	}
	rules := "table inet nat {\n chain post { type nat hook postrouting priority srcnat; oifname \"s\" masquerade; }\n}\n"
	switch nat.Unknown {
	case Drop:
		rules += "table inet filter {\n chain forward { type filter hook forward priority filter; ct state invalid drop; }\n}\n"
	case Reset:
		rules += "table inet filter {\n chain forward { type filter hook forward priority filter; ct state invalid meta l4proto tcp reject with tcp reset; }\n}\n"
	}
	if err := NFT(t.Mid, rules); err != nil {
		return nil, err
	}
	if nat.Unknown != Forward {
		if err := Sysctl(t.Mid, "net/netfilter/nf_conntrack_tcp_loose", "0"); err != nil {
			return nil, err
		}
	}
	if nat.EstablishedTimeout > 0 {
		secs := fmt.Sprint(int(nat.EstablishedTimeout.Round(time.Second) / time.Second))
		if err := Sysctl(t.Mid, "net/netfilter/nf_conntrack_tcp_timeout_established", secs); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// waitUp waits until every interface of the topology is up and can send:
// the kernel activates a device's queue (noop until then, dropping
// everything) from a deferred link-watch event, up to a second or more
// after "ip link set up" on a loaded machine. A SYN lost that way makes
// the connection's RTT a second and its RTO three.
func (t *Topology) waitUp() error {
	deadline := time.Now().Add(10 * time.Second)
	for _, ns := range []string{t.Client, t.Server, t.Mid} {
		for {
			out, err := exec.Command("ip", "-n", ns, "-o", "link", "show").CombinedOutput()
			if err != nil {
				return fmt.Errorf("faultlab: ip -n %s link show: %v: %s", ns, err, out)
			}
			ready := true
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if !strings.Contains(line, ": lo:") && (!strings.Contains(line, "state UP") || strings.Contains(line, "qdisc noop")) {
					ready = false
				}
			}
			if ready {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("faultlab: the interfaces in %s are not up after 10s:\n%s", ns, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// ipUp gives ns's eth0 its addresses (IPv6 without duplicate address
// detection, usable at once), brings it up and adds default routes via
// gw and gw6 if set.
func ipUp(ns, addr, addr6, gw, gw6 string) error {
	err := all(
		IP(ns, "addr add "+addr+" dev eth0"),
		IP(ns, "addr add "+addr6+" dev eth0 nodad"),
		IP(ns, "link set eth0 up"),
	)
	if err == nil && gw != "" {
		err = all(IP(ns, "route add default via "+gw), IP(ns, "-6 route add default via "+gw6))
	}
	return err
}

// all returns the first error, for steps that stop being useful after one
// fails (they all ran anyway: they are cheap).
func all(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// LinkDown sets side's eth0 down: the report's "ifconfig wlan0 down", or,
// on the server, a pulled cable seen from the far end.
func (t *Topology) LinkDown(s Side) error { return IP(t.NS(s), "link set eth0 down") }

// DeleteLink deletes side's eth0 (and its other end, in the middle).
func (t *Topology) DeleteLink(s Side) error { return IP(t.NS(s), "link del eth0") }

// Route adds a route of kind ("blackhole", "unreachable", "prohibit") at
// side for its peer's address, overriding the one that reached it.
func (t *Topology) Route(s Side, kind, network string) error {
	if network == "tcp6" {
		return IP(t.NS(s), "-6 route add "+kind+" "+t.PeerIP(s, network)+"/128")
	}
	return IP(t.NS(s), "route add "+kind+" "+t.PeerIP(s, network)+"/32")
}

// Filter loads one nftables rule (like "drop" or "reject") into a new
// table at side, in the input or output hook, for TCP.
func (t *Topology) Filter(s Side, hook, rule string) error {
	return NFT(t.NS(s), fmt.Sprintf("table inet fault {\n chain %s { type filter hook %s priority filter; meta l4proto tcp %s; }\n}\n", hook, hook, rule))
}

// Listen listens on the server side, port 0, with Go's keepalive off: a
// peer must not probe, or its probes would reach the client.
func (t *Topology) Listen(network string) (net.Listener, error) {
	var ln net.Listener
	err := Do(t.Server, func() (err error) {
		lc := net.ListenConfig{KeepAlive: -1}
		addr := t.ServerIP + ":0"
		if network == "tcp6" {
			addr = "[" + t.ServerIP6 + "]:0"
		}
		ln, err = lc.Listen(context.Background(), network, addr)
		return err
	})
	return ln, err
}

// DialFunc dials like net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Dial dials address from the client namespace with dial.
func (t *Topology) Dial(dial DialFunc, network, address string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var c net.Conn
	err := Do(t.Client, func() (err error) {
		c, err = dial(ctx, network, address)
		return err
	})
	return c, err
}

// Pair listens on the server side, dials it with dial and returns both
// ends; the caller closes them.
func (t *Topology) Pair(dial DialFunc, network string) (client, server net.Conn, err error) {
	ln, err := t.Listen(network)
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	if client, err = t.Dial(dial, network, ln.Addr().String()); err != nil {
		return nil, nil, err
	}
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	if server, err = ln.Accept(); err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, server, nil
}
