package keepalive

import "golang.org/x/sys/unix"

// multipath reports a Multipath TCP socket. Keepalive and the user timeout
// act on its subflows: when the peer dies the subflow is dropped on time,
// but the connection stays ESTABLISHED until net.mptcp.close_timeout
// (60 s by default) and then fails with ENOTCONN.
func multipath(fd int) bool {
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	return err == nil && proto == unix.IPPROTO_MPTCP
}
