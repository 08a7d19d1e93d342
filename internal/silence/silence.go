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

// ErrRefused is wrapped by Peer's error when the kernel refuses the socket
// filter (EPERM or EACCES, which the error wraps too). Some kernels allow
// SO_ATTACH_FILTER on a TCP socket only to a process with CAP_NET_ADMIN
// over the socket's network namespace (root, a file capability, or a user
// and network namespace of its own: unshare -rn); a security module or a
// seccomp filter can refuse it too. kernel.unprivileged_bpf_disabled, which
// governs bpf(2), does not decide it.
var ErrRefused = errors.New("silence: the kernel refused the socket filter that makes the peer silent")
