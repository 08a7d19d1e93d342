package keepalive

import (
	"strconv"
	"strings"
)

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
