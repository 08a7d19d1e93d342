//go:build !linux && !darwin && !freebsd && !windows

package keepalive

import (
	"runtime"
	"syscall"
)

func readStatus(uintptr, *Status, Config, bool) error { return errNoStatus(runtime.GOOS) }

func pendingError(uintptr) syscall.Errno { return 0 }
