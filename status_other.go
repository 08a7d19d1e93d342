//go:build !linux && !darwin && !freebsd && !windows

package keepalive

import (
	"runtime"
	"syscall"
)

func readStatus(uintptr, *Status, Config, optionSource) error { return errNoStatus(runtime.GOOS) }

func pendingError(uintptr) syscall.Errno { return 0 }
