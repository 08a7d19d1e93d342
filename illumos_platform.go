package keepalive

// illumos (inet/tcp/tcp_opt_data.c tcp_opt_set, tcp_timers.c):
// TCP_KEEPIDLE in seconds, at least 10 s on releases before 2015 and on
// Oracle Solaris (1 s since), at most 10 days; TCP_KEEPINTVL inside the
// socket's RTO range (1..60 s by default); TCP_KEEPCNT*TCP_KEEPINTVL in
// milliseconds must fit 32 bits, and with only one of the two set the
// kernel derives the other from its 480 s probing default, so Validate
// wants both or neither; TCP_ABORT_THRESHOLD in ms, checked when the
// retransmission timer (up to 60 s) fires. The keepalive drop is a strict
// >, seen one tick late. Defaults: 2 h idle, then 480 s of probing with
// backoff, modelled as 8 probes 60 s apart, in ipadm tunables a program
// cannot read. Option numbers: netinet/tcp.h.
var illumosPlatform = platform{
	name:        "illumos",
	idle:        durOpt{"TCP_KEEPIDLE", 0x22, second, 10 * second, 864000 * second},
	interval:    durOpt{"TCP_KEEPINTVL", 0x24, second, second, 60 * second},
	count:       countOpt{"TCP_KEEPCNT", 0x23, 71582}, // 60 s * 71582 < 2^32 ms
	maxProbing:  (1<<32 - 1) * ms,
	userTimeout: durOpt{"TCP_ABORT_THRESHOLD", 0x11, ms, 0, maxInt32 * ms},

	defaults: Config{Idle: 7200 * second, Interval: 60 * second, Count: 8},
	system:   systemValues{unreadable: "the TCP tunables _keepalive_interval and _keepalive_abort_interval (ipadm show-prop tcp)"},

	strictAbort:             true,
	userTimeoutOnRetransmit: true,
	rexmtMax:                60 * second,
}
