package keepalive

// AIX: TCP_KEEPIDLE, TCP_KEEPINTVL in seconds as Go's net package sets
// them, TCP_KEEPCNT; no user-timeout analogue. Not verified on a real
// system: AIX's own tunables (no -o tcp_keepidle) count half seconds, and a
// program cannot read them. Option numbers: netinet/tcp.h.
var aixPlatform = platform{
	name:         "aix",
	idle:         durOpt{"TCP_KEEPIDLE", 0x11, second, second, 2147483 * second},
	interval:     durOpt{"TCP_KEEPINTVL", 0x12, second, second, 2147483 * second},
	count:        countOpt{"TCP_KEEPCNT", 0x13, maxInt32},
	notPerSocket: "AIX has no per-socket bound on unacknowledged data like TCP_USER_TIMEOUT",

	defaults: Config{Idle: 7200 * second, Interval: 75 * second, Count: 8},
	system:   systemValues{unreadable: "the network tunables tcp_keepidle, tcp_keepintvl and tcp_keepcnt (no -o)"},
}
