//go:build !linux && !darwin && !freebsd && !windows

package keepalive

import "runtime"

func readCounters(uintptr, *Status) error { return errNoStatus(runtime.GOOS) }
