//go:build !linux

package keepalivetest

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"runtime"
)

// Silence makes conn drop every segment that arrives for it, like a host
// that died. It needs Linux socket filters: elsewhere it returns an error
// wrapping errors.ErrUnsupported.
func Silence(net.Conn) error { return unsupported("Silence (a socket filter)") }

func supported(f Fault) error { return unsupported("Fail(" + f.String() + ")") }

func silenceQuiet(*net.TCPConn) error { return unsupported("Silence") }

func hold(*net.TCPConn) (*exec.Cmd, error) { return nil, unsupported("Held") }

// unsupported is the error of what needs Linux.
func unsupported(what string) error {
	return fmt.Errorf("keepalivetest: %s needs Linux, not %s: %w", what, runtime.GOOS, errors.ErrUnsupported)
}
