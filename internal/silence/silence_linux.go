package silence

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Peer makes conn drop every segment that arrives for it, before TCP sees
// it: to its peer, conn now behaves like a host that died or a cable that
// was pulled. It attaches a classic BPF program "ret #0"
// (SO_ATTACH_FILTER), which needs no privileges. conn itself can still
// send, but nothing it is sent is acknowledged.
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
	return os.NewSyscallError("setsockopt SO_ATTACH_FILTER", serr)
}
