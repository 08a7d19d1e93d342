package keepalive

// OpenBSD (tcp_timer.c tcp_timer_keep): no per-socket options; every
// connection with SO_KEEPALIVE uses the sysctls net.inet.tcp.keepidle and
// keepintvl (seconds on current kernels) and is dropped after 8 unanswered
// probes. Go's net package gets ENOPROTOOPT for the per-socket options.
var openbsdPlatform = platform{
	name:         "openbsd",
	fixedCount:   8,
	notPerSocket: "OpenBSD has no per-socket keepalive options; the sysctls net.inet.tcp.keepidle and net.inet.tcp.keepintvl apply to every connection, with 8 probes",
	refusedHint:  "OpenBSD has no per-socket keepalive options",

	defaults: Config{Idle: 7200 * second, Interval: 75 * second, Count: 8},
	system:   systemValues{idle: "net.inet.tcp.keepidle", interval: "net.inet.tcp.keepintvl", unit: second},
}
