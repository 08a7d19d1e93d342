package keepalive

import (
	"time"

	"golang.org/x/sys/unix"
)

// DragonFly has no user-timeout analogue.
var sockopts = tcpOpts{unix.TCP_KEEPIDLE, unix.TCP_KEEPINTVL, unix.TCP_KEEPCNT, -1}

const refusedHint = "is it a TCP socket?"

// DragonFly took TCP_KEEPIDLE and TCP_KEEPINTVL in milliseconds until
// __DragonFly_version 500702 (the 5.8 release), in seconds since.
func init() {
	if v, err := unix.SysctlUint32("kern.osreldate"); err == nil && v < 500702 {
		hostPlatform = &dragonflyMsPlatform
	}
}

// readSystem returns the keepalive values a socket gets when it sets
// none: on DragonFly the sysctls net.inet.tcp.keepidle and keepintvl
// (milliseconds) and net.inet.tcp.keepcnt (compiled-in defaults 7200 s,
// 75 s, 8). UserTimeout is always zero.
func readSystem() (System, error) { return sysctlDefaults(time.Millisecond, 0) }
