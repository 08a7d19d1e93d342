package keepalive

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sioTCPInfo is SIO_TCP_INFO, _WSAIORW(IOC_VENDOR, 39) (mstcpip.h).
const sioTCPInfo = 0xd8000027

// readCounters reads fd's SIO_TCP_INFO (version 0) into a stack buffer.
func readCounters(sysfd uintptr, st *Status) error {
	var (
		version uint32
		info    windowsTCPInfo0
		n       uint32
	)
	if err := windows.WSAIoctl(windows.Handle(sysfd), sioTCPInfo, (*byte)(unsafe.Pointer(&version)), uint32(unsafe.Sizeof(version)),
		(*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), &n, nil, 0); err != nil {
		err = os.NewSyscallError("WSAIoctl SIO_TCP_INFO", err)
		if errors.Is(err, windows.WSAEOPNOTSUPP) || errors.Is(err, windows.WSAEINVAL) {
			return fmt.Errorf("keepalive: SIO_TCP_INFO needs Windows 10 1703 or later: %w: %w", errors.ErrUnsupported, err)
		}
		return err
	}
	st.fromWindows(&info)
	return nil
}
