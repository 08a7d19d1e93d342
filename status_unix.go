//go:build darwin || freebsd

package keepalive

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// readStatus reads fd's counters (readCounters, status_<goos>.go), then,
// the keepalive values (see optionSource).
func readStatus(sysfd uintptr, st *Status, held Config, src optionSource) error {
	if err := readCounters(sysfd, st); err != nil {
		return err
	}
	st.options(sysfd, held, src)
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
