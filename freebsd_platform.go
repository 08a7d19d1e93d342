package keepalive

import "strconv"

// FreeBSD (tcp_usrreq.c tcp_default_ctloutput, tcp_timer.c): seconds up to
// UINT_MAX/hz (4294967 s at hz 1000); TCP_MAXUNACKTIME (FreeBSD 14+,
// seconds; 0x44 in netinet/tcp.h, which golang.org/x/sys has only for
// riscv64) is checked when the retransmission timer fires. FreeBSD probes
// every TCP connection, SO_KEEPALIVE or not, while
// net.inet.tcp.always_keepalive is 1 (the default). The values of a socket
// that sets none: sysctls in milliseconds (7200 s, 75 s, 8 compiled in).
var freebsdPlatform = platform{
	name:        "freebsd",
	idle:        durOpt{"TCP_KEEPIDLE", 0x100, second, second, 4294967 * second},
	interval:    durOpt{"TCP_KEEPINTVL", 0x200, second, second, 4294967 * second},
	count:       countOpt{"TCP_KEEPCNT", 0x400, maxInt32},
	userTimeout: durOpt{"TCP_MAXUNACKTIME", 0x44, second, 0, 4294967 * second},

	defaults: Config{Idle: 7200 * second, Interval: 75 * second, Count: 8},
	system:   systemValues{idle: "net.inet.tcp.keepidle", interval: "net.inet.tcp.keepintvl", unit: ms, count: "net.inet.tcp.keepcnt"},
	release:  "kern.osreldate",

	userTimeoutOnRetransmit: true,
	rexmtMax:                64 * second,
}

// FreeBSD before 14 has no TCP_MAXUNACKTIME.
var freebsd13Platform = func() platform {
	p := freebsdPlatform
	p.name = "freebsd before 14"
	p.userTimeout = durOpt{}
	p.notPerSocket = "TCP_MAXUNACKTIME came with FreeBSD 14"
	return p
}()

// freebsdRelease picks by kern.osreldate, the kernel's __FreeBSD_version:
// 14.0 is 1400000.
func freebsdRelease(osreldate string) (*platform, error) {
	if v, err := strconv.Atoi(osreldate); err == nil && v < 1400000 {
		return &freebsd13Platform, nil
	}
	return &freebsdPlatform, nil
}
