//go:build darwin || freebsd

package keepalive

import (
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readStatus reads fd's counters with one getsockopt into a stack buffer
// (TCP_CONNECTION_INFO on macOS, TCP_INFO on FreeBSD), then, unless
// isHeld, the keepalive values.
func readStatus(sysfd uintptr, st *Status, held Config, isHeld bool) error {
	if err := readCounters(sysfd, st); err != nil {
		return err
	}
	if isHeld {
		st.KeepAlive, st.Config = true, held
		st.Known |= FieldKeepAlive | FieldConfig
	} else if c, on, err := getOptions(sysfd); err == nil {
		st.KeepAlive, st.Config = on, c
		st.Known |= FieldKeepAlive | FieldConfig
	}
	host().giveUp(st, systemOnce())
	return nil
}

func readCounters(sysfd uintptr, st *Status) error {
	if runtime.GOOS == "freebsd" {
		var info freebsdTCPInfo
		if err := getsockopt(sysfd, freebsdTCPInfoOpt, unsafe.Pointer(&info), unsafe.Sizeof(info)); err != nil {
			return err
		}
		st.fromFreeBSD(&info)
		return nil
	}
	var info darwinConnInfo
	if err := getsockopt(sysfd, darwinTCPConnectionInfo, unsafe.Pointer(&info), unsafe.Sizeof(info)); err != nil {
		return err
	}
	st.fromDarwin(&info)
	return nil
}

const (
	freebsdTCPInfoOpt       = 0x20
	darwinTCPConnectionInfo = 0x106
)

func getsockopt(fd uintptr, opt int, p unsafe.Pointer, size uintptr) error {
	n := uint32(size)
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.IPPROTO_TCP, uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(&n)), 0); e != 0 {
		return os.NewSyscallError("getsockopt", e)
	}
	return nil
}

// pendingError takes fd's pending error (SO_ERROR), 0 if none.
func pendingError(fd uintptr) syscall.Errno {
	v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return 0
	}
	return syscall.Errno(v)
}
