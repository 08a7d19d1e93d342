package main

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func demoSupported() error { return nil }

// tcpProbes reads tcpi_probes (unanswered keepalive or zero-window probes
// sent) and tcpi_backoff from the socket's TCP_INFO.
func tcpProbes(c net.Conn) (probes, backoff int, err error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, 0, fmt.Errorf("%T has no socket", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var info *unix.TCPInfo
	var gerr error
	if err := rc.Control(func(fd uintptr) { info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		return 0, 0, err
	}
	if gerr != nil {
		return 0, 0, os.NewSyscallError("getsockopt TCP_INFO", gerr)
	}
	return int(info.Probes), int(info.Backoff), nil
}

// tcpState reads the socket's TCP state from TCP_INFO, named as ss names
// it ("close" once the kernel has dropped the connection), or "unknown".
func tcpState(c net.Conn) string {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return "unknown"
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return "unknown"
	}
	var info *unix.TCPInfo
	var gerr error
	if err := rc.Control(func(fd uintptr) { info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || gerr != nil {
		return "unknown"
	}
	if int(info.State) < len(tcpStates) {
		return tcpStates[info.State]
	}
	return "unknown"
}

func errnoName(e syscall.Errno) string { return unix.ErrnoName(e) }

// isTerminal reports whether f is a terminal, where the demo redraws its
// progress lines in place. It reaches the descriptor through SyscallConn:
// f.Fd() would put stdout into blocking mode.
func isTerminal(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var terr error
	if err := rc.Control(func(fd uintptr) { _, terr = unix.IoctlGetTermios(int(fd), unix.TCGETS) }); err != nil {
		return false
	}
	return terr == nil
}
