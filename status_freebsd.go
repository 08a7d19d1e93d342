package keepalive

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readCounters reads TCP_INFO with one getsockopt into a stack buffer.
func readCounters(sysfd uintptr, st *Status) error {
	var info freebsdTCPInfo
	n := uint32(unsafe.Sizeof(info))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, sysfd, unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&n)), 0); e != 0 {
		return os.NewSyscallError("getsockopt TCP_INFO", e)
	}
	st.fromFreeBSD(&info)
	return nil
}
