//go:build !linux

package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// The demo silences its peer with a Linux socket filter and counts probes
// with Linux's TCP_INFO.
func demoSupported() error {
	return fmt.Errorf("the demo needs Linux (a socket filter silences the peer, TCP_INFO counts the probes); not available on %s: %w",
		runtime.GOOS, errors.ErrUnsupported)
}

func errnoName(syscall.Errno) string { return "" }

func isTerminal(*os.File) bool { return false }
