//go:build !linux

package keepalive

import (
	"errors"
	"fmt"
	"runtime"
)

// SystemRetransmission returns the retransmission settings that bound
// detection with data in flight and no UserTimeout. The model is Linux's
// (tcp_retries2); on other systems it returns an error wrapping
// errors.ErrUnsupported.
func SystemRetransmission() (Retransmission, error) {
	return Retransmission{}, fmt.Errorf("keepalive: SystemRetransmission models Linux's tcp_retries2, not %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
