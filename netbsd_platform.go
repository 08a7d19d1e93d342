package keepalive

// NetBSD (tcp_usrreq.c tcp_ctloutput, tcp_timer.h): the options take
// slow-timer ticks of 500 ms (PR_SLOWHZ 2), not seconds, any value > 0;
// the maximum keeps ticks*hz/2 inside an int up to hz 1000. No user-timeout
// analogue. getsockopt cannot read the values back. The values of a socket
// that sets none: sysctls in ticks, net.inet.tcp.slowhz per second (7200 s,
// 75 s, 8 compiled in).
var netbsdPlatform = platform{
	name:         "netbsd",
	idle:         durOpt{"TCP_KEEPIDLE", 0x3, 500 * ms, 500 * ms, 2147483 * second},
	interval:     durOpt{"TCP_KEEPINTVL", 0x5, 500 * ms, 500 * ms, 2147483 * second},
	count:        countOpt{"TCP_KEEPCNT", 0x6, maxInt32},
	notPerSocket: "NetBSD has no per-socket bound on unacknowledged data like TCP_USER_TIMEOUT",

	defaults: Config{Idle: 7200 * second, Interval: 75 * second, Count: 8},
	system:   systemValues{idle: "net.inet.tcp.keepidle", interval: "net.inet.tcp.keepintvl", ticksPerSecond: "net.inet.tcp.slowhz", count: "net.inet.tcp.keepcnt"},
}
