package keepalive

import "golang.org/x/sys/unix"

// multipathFD reports a Multipath TCP socket (one getsockopt); see
// ErrMultipathTCP.
func multipathFD(fd uintptr) bool {
	proto, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL)
	return err == nil && proto == unix.IPPROTO_MPTCP
}
