package keepalive

// macOS and iOS (XNU bsd/netinet/tcp_usrreq.c, tcp_timer.c): seconds,
// 0..UINT32_MAX/1000 (TCP_RETRANSHZ); the idle option is TCP_KEEPALIVE; the
// keep timer is coalesced to 500 ms; TCP_RXT_CONNDROPTIME ends a
// retransmission episode, checked when the retransmission timer fires
// (backoff up to 64 s). Option numbers: netinet/tcp.h. The values of a
// socket that sets none: sysctls in milliseconds (7200 s, 75 s, 8 compiled in).
var darwinPlatform = platform{
	name:        "darwin",
	idle:        durOpt{"TCP_KEEPALIVE", 0x10, second, second, 4294967 * second},
	interval:    durOpt{"TCP_KEEPINTVL", 0x101, second, second, 4294967 * second},
	count:       countOpt{"TCP_KEEPCNT", 0x102, maxInt32},
	userTimeout: durOpt{"TCP_RXT_CONNDROPTIME", 0x80, second, 0, 4294967 * second},

	defaults: Config{Idle: 7200 * second, Interval: 75 * second, Count: 8},
	system:   systemValues{idle: "net.inet.tcp.keepidle", interval: "net.inet.tcp.keepintvl", unit: ms, count: "net.inet.tcp.keepcnt"},

	userTimeoutOnRetransmit: true,
	rexmtMax:                64 * second,
	tick:                    500 * ms,
}
