//go:build !linux && !darwin && !freebsd && !windows

package keepalive

import "runtime"

func readStatus(uintptr, *Status, Config, optionSource) error { return errNoStatus(runtime.GOOS) }
