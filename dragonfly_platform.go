package keepalive

import "strconv"

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
