package keepalive

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readCounters reads TCP_CONNECTION_INFO through libSystem, as Apple
// requires; x/sys returns it on the heap: one allocation.
func readCounters(sysfd uintptr, st *Status) error {
	info, err := unix.GetsockoptTCPConnectionInfo(int(sysfd), unix.IPPROTO_TCP, unix.TCP_CONNECTION_INFO)
	if err != nil {
		return os.NewSyscallError("getsockopt TCP_CONNECTION_INFO", err)
	}
	st.fromDarwin((*darwinConnInfo)(unsafe.Pointer(info)))
	return nil
}

// darwinConnInfo mirrors unix.TCPConnectionInfo byte for byte.
var _ [0]struct{} = [unsafe.Sizeof(darwinConnInfo{}) - unsafe.Sizeof(unix.TCPConnectionInfo{})]struct{}{}
