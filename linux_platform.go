package keepalive

// Linux (and Android): net/ipv4/tcp.c (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL
// 32767 s, MAX_TCP_KEEPCNT 127, TCP_USER_TIMEOUT a non-negative int of ms);
// the model is net/ipv4/tcp_timer.c, measured on Linux 6.18. The values of
// a socket that sets none are per network namespace, read from /proc/sys.
var linuxPlatform = platform{
	name:        "linux",
	idle:        durOpt{"TCP_KEEPIDLE", linuxTCPKeepIdle, second, second, 32767 * second},
	interval:    durOpt{"TCP_KEEPINTVL", linuxTCPKeepIntvl, second, second, 32767 * second},
	count:       countOpt{"TCP_KEEPCNT", linuxTCPKeepCnt, 127},
	userTimeout: durOpt{"TCP_USER_TIMEOUT", linuxTCPUserTimeout, ms, 0, maxInt32 * ms},
	// Multipath TCP sockets refuse TCP_USER_TIMEOUT, and on older kernels
	// the keepalive options too.
	refusedHint: "is it Multipath TCP? use plain TCP, or leave the field zero",

	defaults: Config{Idle: 7200 * second, Interval: 75 * second, Count: 9},
	system: systemValues{
		idle:     "net.ipv4.tcp_keepalive_time",
		interval: "net.ipv4.tcp_keepalive_intvl",
		unit:     second,
		count:    "net.ipv4.tcp_keepalive_probes",
		retries2: "net.ipv4.tcp_retries2",
		rtoMaxMs: "net.ipv4.tcp_rto_max_ms",
	},

	userTimeoutCapsProbes: true,
	retries2Model:         true,
	acceptInherits:        true,
}

// Linux's option numbers (include/uapi/linux/tcp.h), the same on every
// architecture: constants, so that the Linux path of setOptions
// (syscalls_unix.go), on every connection's hot path, needs no lookup.
const (
	linuxTCPKeepIdle    = 0x4
	linuxTCPKeepIntvl   = 0x5
	linuxTCPKeepCnt     = 0x6
	linuxTCPUserTimeout = 0x12
)
