// Every OS's options: one platform row each (the type is in platform.go).
// This file builds on every host, so every OS's rules are tested on any.

package keepalive

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

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

// DragonFly (tcp_usrreq.c, tcp_timer.c): seconds since 5.8, milliseconds
// before (golang/go#65809). No user-timeout analogue. The values of a
// socket that sets none: sysctls in milliseconds (7200 s, 75 s, 8 compiled
// in).
var dragonflyPlatform = platform{
	name:         "dragonfly",
	idle:         durOpt{"TCP_KEEPIDLE", 0x100, second, second, 2147483 * second},
	interval:     durOpt{"TCP_KEEPINTVL", 0x200, second, second, 2147483 * second},
	count:        countOpt{"TCP_KEEPCNT", 0x400, maxInt32},
	notPerSocket: "DragonFly has no per-socket bound on unacknowledged data like TCP_USER_TIMEOUT",

	defaults: Config{Idle: 7200 * second, Interval: 75 * second, Count: 8},
	system:   systemValues{idle: "net.inet.tcp.keepidle", interval: "net.inet.tcp.keepintvl", unit: ms, count: "net.inet.tcp.keepcnt"},
	release:  "kern.osreldate",
}

// DragonFly before 5.8 counts TCP_KEEPIDLE and TCP_KEEPINTVL in
// milliseconds.
var dragonflyMsPlatform = func() platform {
	p := dragonflyPlatform
	p.name = "dragonfly before 5.8"
	p.idle.unit, p.idle.min, p.idle.max = ms, ms, maxInt32*ms
	p.interval.unit, p.interval.min, p.interval.max = ms, ms, maxInt32*ms
	return p
}()

// dragonflyRelease picks by kern.osreldate, the kernel's
// __DragonFly_version: seconds since 500702 (the 5.8 release).
func dragonflyRelease(osreldate string) (*platform, error) {
	if v, err := strconv.Atoi(osreldate); err == nil && v < 500702 {
		return &dragonflyMsPlatform, nil
	}
	return &dragonflyPlatform, nil
}

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

// Oracle Solaris 11.4: illumos's options under other numbers (Go's
// net/tcpsockopt_solaris.go), TCP_KEEPIDLE and TCP_KEEPINTVL 10 s to 10
// days (tcp(4P)). Not verified on a real system.
var solarisPlatform = func() platform {
	p := illumosPlatform
	p.name = "solaris"
	p.idle.num = 0x1D
	p.interval = durOpt{"TCP_KEEPINTVL", 0x1E, second, 10 * second, 864000 * second}
	p.count = countOpt{"TCP_KEEPCNT", 0x1F, 429496} // 10 s * 429496 < 2^32 ms; maxProbing bounds the product
	p.refusedHint = "TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT need Oracle Solaris 11.4"
	p.release = "uname -v"
	return p
}()

// solarisRelease takes uname's version, "11.4.0.15.0" on Oracle Solaris
// 11.4. An older Solaris, or illumos running a GOOS=solaris build (illumos
// leaves 0x1D..0x1F unassigned), cannot take the options.
func solarisRelease(version string) (*platform, error) {
	major, minor, ok := parseSolarisVersion(version)
	switch {
	case !ok:
		return nil, fmt.Errorf("keepalive: uname version %q is not Oracle Solaris 11.4 or later (illumos? build with GOOS=illumos): %w",
			version, errors.ErrUnsupported)
	case major < 11 || major == 11 && minor < 4:
		return nil, fmt.Errorf("keepalive: Solaris %s has no TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT (11.4 added them): %w",
			version, errors.ErrUnsupported)
	}
	return &solarisPlatform, nil
}

// parseSolarisVersion reads "11.4.0.15.0" (Oracle Solaris 11.4's uname -v).
func parseSolarisVersion(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

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

// Windows 10 1709 (build 16299) and later: TCP_KEEPIDLE and TCP_KEEPINTVL
// in seconds, TCP_KEEPCNT up to 255 (1703 and later), TCP_MAXRT in seconds
// for data in flight. Option numbers: ws2ipdef.h. The values of a socket
// that sets none: registry values in milliseconds, absent by default (2 h,
// 1 s), and 10 probes.
var windowsPlatform = platform{
	name:        "windows",
	idle:        durOpt{"TCP_KEEPIDLE", 3, second, second, 4294967 * second},
	interval:    durOpt{"TCP_KEEPINTVL", 17, second, second, 4294967 * second},
	count:       countOpt{"TCP_KEEPCNT", 16, 255},
	userTimeout: durOpt{"TCP_MAXRT", 5, second, 0, maxInt32 * second},

	defaults: Config{Idle: 7200 * second, Interval: second, Count: 10},
	system: systemValues{
		registryKey: `SYSTEM\CurrentControlSet\Services\Tcpip\Parameters`,
		idle:        "KeepAliveTime",
		interval:    "KeepAliveInterval",
		unit:        ms,
	},
	release: "RtlGetVersion",

	userTimeoutOnRetransmit: true,
	rexmtMax:                60 * second,
	tick:                    16 * ms, // the default 15.6 ms clock
}

// Older Windows: SIO_KEEPALIVE_VALS sets idle time and interval together,
// in milliseconds (a zero one gets Windows' default, 2 h or 1 s, since
// the current values cannot be read), and 10 probes are always sent.
var windowsSIOPlatform = func() platform {
	p := windowsPlatform
	p.name = "windows before 10.0.16299"
	p.idle = durOpt{"SIO_KEEPALIVE_VALS keepalivetime", 0, ms, ms, (1<<32 - 1) * ms}
	p.interval = durOpt{"SIO_KEEPALIVE_VALS keepaliveinterval", 0, ms, ms, (1<<32 - 1) * ms}
	p.count = countOpt{}
	p.fixedCount = 10
	p.notPerSocket = "before Windows 10 1709 (build 16299) SIO_KEEPALIVE_VALS always sends 10 probes"
	return p
}()

// windowsRelease takes RtlGetVersion's "major.minor.build": build 16299
// (Windows 10 1709) added TCP_KEEPIDLE and TCP_KEEPINTVL; before it only
// SIO_KEEPALIVE_VALS exists.
func windowsRelease(version string) (*platform, error) {
	v := strings.Split(version, ".")
	if len(v) != 3 {
		return &windowsPlatform, nil
	}
	major, err1 := strconv.Atoi(v[0])
	build, err2 := strconv.Atoi(v[2])
	if err1 == nil && err2 == nil && (major < 10 || build < 16299) {
		return &windowsSIOPlatform, nil
	}
	return &windowsPlatform, nil
}
