package faultlab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const envPeer = "KEEPALIVE_FAULTLAB_PEER"

// peerLifetime ends a peer process, and the child holding its socket, that
// its test could not kill (the test binary itself was killed): no test
// runs a peer longer.
const peerLifetime = 2 * time.Minute

// PeerMode is what a peer process does with the connection it accepts.
type PeerMode string

const (
	// Reads reads and discards everything until EOF.
	Reads PeerMode = "read"
	// Inherits starts a child process that inherits the socket (a file
	// descriptor without close-on-exec) and only sleeps; the peer itself
	// then waits too. Killing the peer leaves the socket open in the child.
	Inherits PeerMode = "inherit"
)

// ServePeer turns this process into a peer when a lab started it as one,
// and returns otherwise. Call it first in TestMain or main of a program
// that starts peers (StartPeer re-executes the running binary).
func ServePeer() {
	v := os.Getenv(envPeer)
	if v == "" {
		return
	}
	mode, addr, _ := strings.Cut(v, " ")
	if err := servePeer(PeerMode(mode), addr); err != nil {
		fmt.Fprintln(os.Stderr, "faultlab peer:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func servePeer(mode PeerMode, addr string) error {
	if mode == "hold" { // the child of Inherits: fd 3 is the socket
		time.Sleep(peerLifetime)
		return nil
	}
	time.AfterFunc(peerLifetime, func() { os.Exit(0) })
	network := "tcp4"
	if strings.HasPrefix(addr, "[") {
		network = "tcp6"
	}
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	ln.Close()
	switch mode {
	case Reads:
		fmt.Println("ready 0")
		_, err := io.Copy(io.Discard, c)
		return err
	case Inherits:
		f, err := c.(*net.TCPConn).File()
		if err != nil {
			return err
		}
		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), envPeer+"=hold")
		child.ExtraFiles = []*os.File{f}
		if err := child.Start(); err != nil {
			return err
		}
		fmt.Println("ready", child.Process.Pid)
		time.Sleep(peerLifetime)
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// Peer is a server process in a lab namespace.
type Peer struct {
	Addr  string      // where it listens
	Pid   int         // the peer process
	Child int         // with Inherits, the child holding the socket
	lines chan string // what the peer prints, read by one goroutine
}

// StartPeer starts a copy of this binary (which must call ServePeer) in
// the server namespace (ip netns exec), listening on network, in its own
// process group, which Close kills.
func (t *Topology) StartPeer(network string, mode PeerMode) (*Peer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr := t.ServerIP + ":0"
	if network == "tcp6" {
		addr = "[" + t.ServerIP6 + "]:0"
	}
	cmd := exec.Command("ip", "netns", "exec", t.Server, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envPeer+"="+string(mode)+" "+addr)
	cmd.Stderr = os.Stderr
	// Killed with this process; ip netns exec execs the peer, which keeps it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t.lab.mu.Lock()
	t.lab.procs = append(t.lab.procs, cmd)
	t.lab.mu.Unlock()
	p := &Peer{Pid: cmd.Process.Pid, lines: make(chan string, 4)}
	go func() { // ends when Close waits for the peer, which closes stdout
		defer close(p.lines)
		for sc := bufio.NewScanner(stdout); sc.Scan(); {
			p.lines <- strings.TrimSpace(sc.Text())
		}
	}()
	if p.Addr, err = p.line(); err != nil {
		return nil, fmt.Errorf("faultlab: the peer did not start: %w", err)
	}
	return p, nil
}

// line reads the peer's next line, waiting at most 10 s.
func (p *Peer) line() (string, error) {
	select {
	case s, ok := <-p.lines:
		if !ok {
			return "", fmt.Errorf("faultlab: peer %d exited", p.Pid)
		}
		return s, nil
	case <-time.After(10 * time.Second):
		return "", fmt.Errorf("faultlab: nothing from peer %d within 10s", p.Pid)
	}
}

// Ready waits until the peer has accepted the connection (and, with
// Inherits, started the child that holds it).
func (p *Peer) Ready() error {
	s, err := p.line()
	if err != nil {
		return err
	}
	pid, ok := strings.CutPrefix(s, "ready ")
	if !ok {
		return fmt.Errorf("faultlab: peer said %q, want ready", s)
	}
	p.Child, err = strconv.Atoi(pid)
	return err
}

// Signal sends sig to the peer process alone (not its child).
func (p *Peer) Signal(sig syscall.Signal) error {
	if err := syscall.Kill(p.Pid, sig); err != nil {
		return fmt.Errorf("faultlab: kill -%d %d: %w", sig, p.Pid, err)
	}
	return nil
}
