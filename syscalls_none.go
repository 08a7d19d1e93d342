//go:build !unix && !windows

package keepalive

import (
	"errors"
	"syscall"
)

// Every GOOS that is neither Unix nor Windows (js, wasip1, plan9) has no
// TCP keepalive options and no platform: every call that would touch a
// socket or read system settings returns an error that names the OS and
// wraps errors.ErrUnsupported.

func setOptions(uintptr, Config) error { return errUnsupported() }

func getOptions(uintptr, bool) (Config, bool, error) { return Config{}, false, errUnsupported() }

func pendingError(uintptr) syscall.Errno { return 0 }

func readSystem() (System, error) { return host().readSystem(nil) } // host is nil: unsupported

func osRelease(string) (string, error) { return "", errors.ErrUnsupported }

func isTCPSocket(uintptr) bool { return false }
