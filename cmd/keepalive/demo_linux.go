package main

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func demoSupported() error { return nil }

func errnoName(e syscall.Errno) string { return unix.ErrnoName(e) }

// isTerminal reports whether f is a terminal, where the demo redraws its
// progress lines in place. It reaches the descriptor through SyscallConn:
// f.Fd() would put stdout into blocking mode.
func isTerminal(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var terr error
	if err := rc.Control(func(fd uintptr) { _, terr = unix.IoctlGetTermios(int(fd), unix.TCGETS) }); err != nil {
		return false
	}
	return terr == nil
}
