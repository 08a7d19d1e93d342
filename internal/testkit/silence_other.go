//go:build !linux

package testkit

import "net"

// Silence makes conn drop everything that arrives for it. It needs Linux.
func Silence(net.Conn) error { return ErrNoSilence }
