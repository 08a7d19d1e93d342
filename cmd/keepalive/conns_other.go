//go:build !linux

package main

import (
	"errors"
	"fmt"
	"runtime"
)

// listConns needs Linux's sock_diag (netlink INET_DIAG) and pidfd_getfd.
func listConns(connFilter) ([]connInfo, []string, error) {
	return nil, nil, fmt.Errorf("listing connections with their keepalive timers needs Linux's sock_diag (netlink INET_DIAG); not available on %s: %w",
		runtime.GOOS, errors.ErrUnsupported)
}
