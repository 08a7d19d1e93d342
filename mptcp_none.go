//go:build !linux

package keepalive

// multipathFD: only Linux has Multipath TCP sockets.
func multipathFD(uintptr) bool { return false }
