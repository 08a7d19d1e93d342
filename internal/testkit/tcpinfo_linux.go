package testkit

import (
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// TCPInfo reads conn's TCP_INFO, for tests that look at the kernel's
// counters directly rather than through keepalive.StatusOf.
func TCPInfo(conn net.Conn) (*unix.TCPInfo, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("testkit: %T has no socket", conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var info *unix.TCPInfo
	var ierr error
	if err := rc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		return nil, err
	}
	if ierr != nil {
		return nil, fmt.Errorf("testkit: TCP_INFO: %w", ierr)
	}
	return info, nil
}
