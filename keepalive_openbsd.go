package keepalive

import "time"

// OpenBSD has no per-socket keepalive options: only SO_KEEPALIVE is set.
var sockopts = tcpOpts{-1, -1, -1, -1}

const refusedHint = "OpenBSD has no per-socket keepalive options"

// readSystem returns the keepalive values every connection with
// SO_KEEPALIVE uses on OpenBSD: the sysctls net.inet.tcp.keepidle and
// keepintvl (seconds on current kernels; compiled-in defaults 7200 s, 75 s)
// and the fixed 8 probes. UserTimeout is always zero.
func readSystem() (System, error) { return sysctlDefaults(time.Second, 8) }
