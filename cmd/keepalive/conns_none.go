//go:build !linux

package main

import (
	"errors"
	"fmt"
	"runtime"
)

// listConns needs Linux's sock_diag (netlink INET_DIAG) and pidfd_getfd.
func listConns(connFilter) ([]connInfo, []string, error) {
	return nil, nil, fmt.Errorf("listing connections with their keepalive timers and holders needs Linux's sock_diag (netlink INET_DIAG) and /proc; not available on %s: %w",
		runtime.GOOS, errors.ErrUnsupported)
}

// openInspector: why and --kill need sock_diag, /proc and SOCK_DESTROY.
func openInspector(string) (inspector, error) {
	return nil, fmt.Errorf("explaining and ending connections needs Linux's sock_diag (netlink INET_DIAG), /proc and SOCK_DESTROY; not available on %s: %w",
		runtime.GOOS, errors.ErrUnsupported)
}
