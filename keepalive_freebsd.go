package keepalive

import (
	"time"

	"golang.org/x/sys/unix"
)

// tcpMaxUnackTime is TCP_MAXUNACKTIME from FreeBSD 14's netinet/tcp.h;
// golang.org/x/sys has it only for riscv64.
const tcpMaxUnackTime = 0x44

var sockopts = tcpOpts{unix.TCP_KEEPIDLE, unix.TCP_KEEPINTVL, unix.TCP_KEEPCNT, tcpMaxUnackTime}

const refusedHint = "is it a TCP socket?"

// FreeBSD 14 (__FreeBSD_version 1400000) added TCP_MAXUNACKTIME; before it,
// Validate refuses UserTimeout.
func init() {
	if v, err := unix.SysctlUint32("kern.osreldate"); err == nil && v < 1400000 {
		hostPlatform = &freebsd13Platform
	}
}

// readSystem returns the keepalive values a socket gets when it sets
// none: on FreeBSD the sysctls net.inet.tcp.keepidle and keepintvl
// (milliseconds) and net.inet.tcp.keepcnt (compiled-in defaults 7200 s,
// 75 s, 8). FreeBSD probes every TCP connection, SO_KEEPALIVE or not, while
// net.inet.tcp.always_keepalive is 1 (the default). UserTimeout is always
// zero.
func readSystem() (System, error) { return sysctlDefaults(time.Millisecond, 0) }
