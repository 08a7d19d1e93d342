package keepalivetest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/keepalive-go/keepalive/internal/netconn"
	"golang.org/x/sys/unix"
)

// Silence makes conn drop every segment that arrives for it, before TCP
// sees it (a socket filter, SO_ATTACH_FILTER): to the other end, conn is
// now a host that died. conn can still send; nothing it is sent is
// acknowledged. It must be plain TCP (not Multipath TCP); a *tls.Conn is
// unwrapped. Where the kernel refuses, the error wraps ErrRefused and says
// why.
func Silence(conn net.Conn) error {
	rc, err := tcpRawConn(conn)
	if err != nil {
		return err
	}
	return attach(rc)
}

// tcpRawConn is conn's socket, if it is a TCP one.
func tcpRawConn(conn net.Conn) (syscall.RawConn, error) {
	if netconn.IsNil(conn) {
		return nil, errors.New("keepalivetest: nil net.Conn")
	}
	for {
		u, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		conn = u.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("keepalivetest: %T is not a socket", conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("keepalivetest: %w", err)
	}
	var typ, proto int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		if typ, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE); serr == nil {
			proto, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL)
		}
	}); err != nil {
		return nil, fmt.Errorf("keepalivetest: %w", err)
	}
	switch {
	case serr != nil:
		return nil, fmt.Errorf("keepalivetest: %T: %w", conn, os.NewSyscallError("getsockopt", serr))
	case typ == unix.SOCK_STREAM && proto == unix.IPPROTO_MPTCP:
		return nil, fmt.Errorf("keepalivetest: %v: a Multipath TCP socket, whose subflows a socket filter does not stop: listen or dial with SetMultipathTCP(false)", conn.LocalAddr())
	case typ != unix.SOCK_STREAM || proto != unix.IPPROTO_TCP:
		return nil, fmt.Errorf("keepalivetest: %T on %s %v is not a TCP connection", conn, conn.LocalAddr().Network(), conn.LocalAddr())
	}
	return rc, nil
}

func attach(rc syscall.RawConn) error {
	drop := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	prog := unix.SockFprog{Len: uint16(len(drop)), Filter: &drop[0]}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog)
	}); err != nil {
		return fmt.Errorf("keepalivetest: %w", err)
	}
	if serr == nil {
		return nil
	}
	err := os.NewSyscallError("setsockopt SO_ATTACH_FILTER", serr)
	if errors.Is(serr, unix.EPERM) || errors.Is(serr, unix.EACCES) {
		return fmt.Errorf("%w (%w): uid %d lacks CAP_NET_ADMIN in this network namespace: run as root, or in InNetNS", ErrRefused, err, os.Geteuid())
	}
	return fmt.Errorf("keepalivetest: %w", err)
}

func supported(f Fault) error {
	if f == Silent {
		return canSilence()
	}
	return nil
}

// canSilence is whether the kernel lets this process attach the filter:
// tried once, on a loopback connection of its own, so that Fail and
// FailNext refuse before anything changes.
var canSilence = sync.OnceValue(func() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("keepalivetest: trying the socket filter: %w", err)
	}
	defer ln.Close()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		return fmt.Errorf("keepalivetest: trying the socket filter: %w", err)
	}
	defer c.Close()
	if s, err := ln.Accept(); err == nil {
		s.Close()
	}
	return Silence(c)
})

// silenceQuiet silences c once what it sent has been acknowledged: a
// retransmission reaching the other end would look like a live peer. Its
// own keepalive goes off, as a dead host sends no probes.
func silenceQuiet(c *net.TCPConn) error {
	rc, err := tcpRawConn(c)
	if err != nil {
		return err
	}
	if err := c.SetKeepAlive(false); err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		var info *unix.TCPInfo
		var ierr error
		if err := rc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
			return err
		}
		if ierr != nil {
			return os.NewSyscallError("getsockopt TCP_INFO", ierr)
		}
		if info.Unacked == 0 && info.Notsent_bytes == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the other end has not acknowledged what the peer sent within 2s (%d segments): it would see their retransmissions", info.Unacked)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return attach(rc)
}

// envHold makes a process started by hold keep its descriptor 3 until its
// standard input closes (init, below).
const envHold = "KEEPALIVETEST_HOLD"

// hold hands c's socket to a child process (this executable again) and
// closes c: the peer application is gone, its socket is not.
func hold(c *net.TCPConn) (*exec.Cmd, error) {
	f, err := c.File() // a duplicate, for the child; the original goes below
	if err != nil {
		return nil, err
	}
	defer f.Close()
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envHold+"=1")
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if _, err := cmd.StdinPipe(); err != nil { // closed by Wait, or by this process's death
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the holder: %w", err)
	}
	return cmd, c.Close()
}

func init() {
	if os.Getenv(envHold) == "1" && !secureExec() {
		var b [1]byte
		os.Stdin.Read(b[:]) // EOF when the test ends or dies
		os.Exit(0)
	}
}
