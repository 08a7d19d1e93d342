//go:build darwin || freebsd

package keepalive

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// readStatus reads fd's counters (readCounters, status_<goos>.go), then,
// unless isHeld, the keepalive values.
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

// pendingError takes fd's pending error (SO_ERROR), 0 if none.
func pendingError(fd uintptr) syscall.Errno {
	v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return 0
	}
	return syscall.Errno(v)
}
