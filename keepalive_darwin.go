package keepalive

import (
	"time"

	"golang.org/x/sys/unix"
)

// macOS and iOS name the idle time TCP_KEEPALIVE; TCP_RXT_CONNDROPTIME
// bounds a retransmission episode.
var sockopts = tcpOpts{unix.TCP_KEEPALIVE, unix.TCP_KEEPINTVL, unix.TCP_KEEPCNT, unix.TCP_RXT_CONNDROPTIME}

const refusedHint = "is it a TCP socket?"

// readSystem returns the keepalive values a socket gets when it sets
// none: on macOS and iOS the sysctls net.inet.tcp.keepidle and keepintvl
// (milliseconds) and net.inet.tcp.keepcnt (compiled-in defaults 7200 s,
// 75 s, 8). UserTimeout is always zero.
func readSystem() (System, error) { return sysctlDefaults(time.Millisecond, 0) }
