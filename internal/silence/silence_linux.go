package silence

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Peer makes conn drop every segment that arrives for it, before TCP sees
// it: to its peer, conn now behaves like a host that died or a cable that
// was pulled. It attaches a classic BPF program "ret #0"
// (SO_ATTACH_FILTER). conn itself can still send, but nothing it is sent
// is acknowledged. Where the kernel refuses the filter the error wraps
// ErrRefused and says why.
func Peer(conn net.Conn) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return fmt.Errorf("silence: %T has no socket", conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	drop := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	prog := unix.SockFprog{Len: uint16(len(drop)), Filter: &drop[0]}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog)
	}); err != nil {
		return err
	}
	if serr == nil {
		return nil
	}
	err = os.NewSyscallError("setsockopt SO_ATTACH_FILTER", serr)
	if errors.Is(serr, unix.EPERM) || errors.Is(serr, unix.EACCES) {
		return fmt.Errorf("%w (%w): %s", ErrRefused, err, refusedWhy())
	}
	return err
}

// refusedWhy says what the process lacks, as far as it can tell.
func refusedWhy() string {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps [2]unix.CapUserData
	if err := unix.Capget(&hdr, &caps[0]); err == nil && caps[0].Effective&(1<<unix.CAP_NET_ADMIN) == 0 {
		return fmt.Sprintf("this process (uid %d) lacks CAP_NET_ADMIN, which kernels that restrict socket filters on TCP sockets require", os.Geteuid())
	}
	return "this process has CAP_NET_ADMIN, but not over the socket's network namespace, or a security module or seccomp filter refused it"
}
