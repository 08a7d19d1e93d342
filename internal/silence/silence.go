// Package silence turns one end of a TCP connection into a dead peer: it
// drops everything that arrives for it, as a host that died would, so the
// other end can be watched detecting it. It is shared by the tests (through
// internal/testkit) and by the keepalive command's demo, which must not
// link the testing package that testkit needs.
package silence

import (
	"errors"
	"fmt"
)

// ErrUnsupported is returned by Peer where it cannot work (every OS but
// Linux). It wraps errors.ErrUnsupported.
var ErrUnsupported = fmt.Errorf("silence: making a peer silent needs Linux socket filters: %w", errors.ErrUnsupported)
