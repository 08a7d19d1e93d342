package keepalive

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// NetBSD has no user-timeout analogue.
var sockopts = tcpOpts{unix.TCP_KEEPIDLE, unix.TCP_KEEPINTVL, unix.TCP_KEEPCNT, -1}

const refusedHint = "is it a TCP socket?"

// readSystem returns the keepalive values a socket gets when it sets
// none: on NetBSD the sysctls net.inet.tcp.keepidle and keepintvl, which
// count slow-timer ticks (net.inet.tcp.slowhz per second, 2), and
// net.inet.tcp.keepcnt (compiled-in defaults 7200 s, 75 s, 8). UserTimeout
// is always zero.
func readSystem() (System, error) {
	hz, err := unix.SysctlUint32("net.inet.tcp.slowhz")
	if err != nil {
		return System{}, fmt.Errorf("keepalive: reading sysctl net.inet.tcp.slowhz: %w", err)
	}
	if hz == 0 {
		return System{}, fmt.Errorf("keepalive: sysctl net.inet.tcp.slowhz is 0")
	}
	return sysctlDefaults(time.Second/time.Duration(hz), 0)
}
