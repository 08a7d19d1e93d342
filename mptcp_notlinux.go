//go:build unix && !linux

package keepalive

// multipath: only Linux has Multipath TCP sockets here.
func multipath(int) bool { return false }
