//go:build !linux

package silence

import "net"

// Peer makes conn drop everything that arrives for it. It needs Linux
// socket filters; elsewhere it returns ErrUnsupported.
func Peer(net.Conn) error { return ErrUnsupported }
