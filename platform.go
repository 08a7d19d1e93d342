package keepalive

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"time"
)

// A platform is what one operating system offers: the option behind each
// Config field, the unit its kernel counts in, the range it accepts, and how
// it turns the values into a detection time. It is plain data, so the rules
// of every system are checked by tests on any host (platform_test.go); the
// per-OS files only hold the option numbers and the system calls.
type platform struct {
	name string // for errors and docs: "linux", "windows before 10.0.16299"

	idle, interval, userTimeout durOpt
	count                       countOpt

	// fixedCount is how many probes the kernel sends where Count cannot be
	// set per socket (count.name empty): 10 for SIO_KEEPALIVE_VALS on
	// Windows, 8 on OpenBSD.
	fixedCount int
	// notPerSocket explains a field the OS cannot set per socket; it ends
	// the error Validate returns for such a field.
	notPerSocket string
	// maxProbing, if set, bounds Count*Interval: illumos keeps it as the
	// abort threshold in 32-bit milliseconds. It also means Interval and
	// Count must be set together, since the kernel derives one from the
	// other and its 480 s default otherwise.
	maxProbing time.Duration

	// defaults are the kernel's compiled-in values, used by the model where
	// the system's own cannot be read.
	defaults Config

	// userTimeoutCapsProbes: the user timeout also ends keepalive probing,
	// and Count is ignored while it is set (Linux tcp_keepalive_timer).
	userTimeoutCapsProbes bool
	// strictAbort: the kernel drops the connection only once the probing
	// time is strictly exceeded, which it sees one timer tick after the
	// last probe's interval (illumos tcp_keepalive_timer).
	strictAbort bool
	// userTimeoutOnRetransmit: the user-timeout analogue is checked only
	// when the retransmission timer fires, which backs off exponentially up
	// to rexmtMax: the connection can fail up to min(UserTimeout, rexmtMax)
	// late. Linux instead clamps the timer to the user timeout.
	userTimeoutOnRetransmit bool
	rexmtMax                time.Duration
	// retries2Model: without a user timeout, data in flight is bounded by
	// tcp_retries2 (Linux; see Retransmission). Elsewhere it is not modelled.
	retries2Model bool

	// acceptInherits: a connection accepted on a listening socket holding
	// the options starts with the listener's values (Linux inet_csk_clone
	// copies them), so Listen sets them once on the listener.
	acceptInherits bool

	// tick is the coarsest a timer can be late by beyond the wheel's
	// rounding (see timerSlack): 10 ms (HZ 100) unless set.
	tick time.Duration
}

// durOpt is a duration option: its name (empty where the OS has none), the
// unit the kernel counts in, and the range it accepts after rounding up.
type durOpt struct {
	name     string
	unit     time.Duration
	min, max time.Duration
}

type countOpt struct {
	name string
	max  int
}

// validate checks c against p, before any system call: every field
// non-negative, settable on this OS if non-zero, and inside the kernel's
// range after rounding up to the kernel's unit.
func (p *platform) validate(c Config) error {
	if p == nil {
		return errUnsupported()
	}
	if err := p.idle.check(p, "Idle", c.Idle, "keeps the system value"); err != nil {
		return err
	}
	if err := p.interval.check(p, "Interval", c.Interval, "keeps the system value"); err != nil {
		return err
	}
	switch {
	case c.Count < 0 && p.count.name == "":
		return fmt.Errorf("keepalive: invalid Config: Count %d is negative: %w", c.Count, syscall.EINVAL)
	case c.Count > 0 && p.count.name == "":
		return p.notSettable("Count", fmt.Sprint(c.Count))
	case c.Count < 0 || c.Count > p.count.max:
		return fmt.Errorf("keepalive: invalid Config: Count %d outside 1..%d (%s); 0 keeps the system value: %w",
			c.Count, p.count.max, p.count.name, syscall.EINVAL)
	}
	if p.maxProbing > 0 {
		if (c.Interval == 0) != (c.Count == 0) {
			return fmt.Errorf("keepalive: invalid Config: set Interval and Count together on %s (Interval %v, Count %d): "+
				"the kernel derives the one left out from its 480 s probing default: %w", p.name, c.Interval, c.Count, syscall.EINVAL)
		}
		if probing := satMul(roundUp(c.Interval, p.interval.unit), int64(c.Count)); probing > p.maxProbing {
			return fmt.Errorf("keepalive: invalid Config: Count*Interval %v above %v on %s (TCP_KEEPCNT*TCP_KEEPINTVL is kept in 32-bit milliseconds): %w",
				probing, p.maxProbing, p.name, syscall.EINVAL)
		}
	}
	return p.userTimeout.check(p, "UserTimeout", c.UserTimeout, "leaves it off")
}

func (o durOpt) check(p *platform, field string, d time.Duration, zero string) error {
	if d == 0 {
		return nil
	}
	if o.name == "" {
		if d < 0 {
			return fmt.Errorf("keepalive: invalid Config: %s %v is negative: %w", field, d, syscall.EINVAL)
		}
		return p.notSettable(field, d.String())
	}
	if r := roundUp(d, o.unit); d < 0 || r < o.min || r > o.max {
		return fmt.Errorf("keepalive: invalid Config: %s %v outside %s..%s (%s counts %s, rounded up); 0 %s: %w",
			field, d, fmtLimit(o.min, o.unit), fmtLimit(o.max, o.unit), o.name, unitName(o.unit), zero, syscall.EINVAL)
	}
	return nil
}

func (p *platform) notSettable(field, value string) error {
	return fmt.Errorf("keepalive: invalid Config: %s %s cannot be set per connection on %s (%s); leave it 0: %w",
		field, value, p.name, p.notPerSocket, errors.ErrUnsupported)
}

// rounded returns c as p's kernel holds it: each duration rounded up to the
// option's unit. Fields the OS cannot set are left as they are (Validate
// refuses them).
func (p *platform) rounded(c Config) Config {
	if p == nil {
		return c
	}
	round := func(d time.Duration, o durOpt) time.Duration {
		if o.unit == 0 {
			return d
		}
		return roundUp(d, o.unit)
	}
	c.Idle = round(c.Idle, p.idle)
	c.Interval = round(c.Interval, p.interval)
	c.UserTimeout = round(c.UserTimeout, p.userTimeout)
	return c
}

// hostErr, where a per-OS file finds this version of the OS without usable
// options, is what every call reports.
var hostErr error

func errUnsupported() error {
	if hostErr != nil {
		return hostErr
	}
	return fmt.Errorf("keepalive: TCP keepalive options cannot be set on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

const (
	second = time.Second
	ms     = time.Millisecond
	// maxInt32 bounds options the kernel keeps in a C int; it also keeps
	// every conversion safe where Go's int is 32 bits.
	maxInt32 = 1<<31 - 1
)

// The platforms, with their sources. What is not verified on the real
// system is marked so in docs/platforms.md.
var (
	// Linux: net/ipv4/tcp.c (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL 32767 s,
	// MAX_TCP_KEEPCNT 127, TCP_USER_TIMEOUT a non-negative int of ms);
	// the model is net/ipv4/tcp_timer.c, measured on Linux 6.18.
	linuxPlatform = platform{
		name:        "linux",
		idle:        durOpt{"TCP_KEEPIDLE", second, second, 32767 * second},
		interval:    durOpt{"TCP_KEEPINTVL", second, second, 32767 * second},
		count:       countOpt{"TCP_KEEPCNT", 127},
		userTimeout: durOpt{"TCP_USER_TIMEOUT", ms, 0, maxInt32 * ms},
		defaults:    Config{Idle: 7200 * second, Interval: 75 * second, Count: 9},

		userTimeoutCapsProbes: true,
		retries2Model:         true,
		acceptInherits:        true,
	}

	// macOS and iOS (XNU bsd/netinet/tcp_usrreq.c, tcp_timer.c): seconds,
	// 0..UINT32_MAX/1000 (TCP_RETRANSHZ); the keep timer is coalesced to
	// 500 ms; TCP_RXT_CONNDROPTIME ends a retransmission episode, checked
	// when the retransmission timer fires (backoff up to 64 s).
	darwinPlatform = platform{
		name:        "darwin",
		idle:        durOpt{"TCP_KEEPALIVE", second, second, 4294967 * second},
		interval:    durOpt{"TCP_KEEPINTVL", second, second, 4294967 * second},
		count:       countOpt{"TCP_KEEPCNT", maxInt32},
		userTimeout: durOpt{"TCP_RXT_CONNDROPTIME", second, 0, 4294967 * second},
		defaults:    Config{Idle: 7200 * second, Interval: 75 * second, Count: 8},

		userTimeoutOnRetransmit: true,
		rexmtMax:                64 * second,
		tick:                    500 * ms,
	}

	// FreeBSD (tcp_usrreq.c tcp_default_ctloutput, tcp_timer.c): seconds up
	// to UINT_MAX/hz (4294967 s at hz 1000); TCP_MAXUNACKTIME (FreeBSD 14+,
	// seconds) is checked when the retransmission timer fires.
	freebsdPlatform = platform{
		name:        "freebsd",
		idle:        durOpt{"TCP_KEEPIDLE", second, second, 4294967 * second},
		interval:    durOpt{"TCP_KEEPINTVL", second, second, 4294967 * second},
		count:       countOpt{"TCP_KEEPCNT", maxInt32},
		userTimeout: durOpt{"TCP_MAXUNACKTIME", second, 0, 4294967 * second},
		defaults:    Config{Idle: 7200 * second, Interval: 75 * second, Count: 8},

		userTimeoutOnRetransmit: true,
		rexmtMax:                64 * second,
	}

	// FreeBSD before 14 has no TCP_MAXUNACKTIME.
	freebsd13Platform = func() platform {
		p := freebsdPlatform
		p.name = "freebsd before 14"
		p.userTimeout = durOpt{}
		p.notPerSocket = "TCP_MAXUNACKTIME came with FreeBSD 14"
		return p
	}()

	// NetBSD (tcp_usrreq.c tcp_ctloutput, tcp_timer.h): the options take
	// slow-timer ticks of 500 ms (PR_SLOWHZ 2), not seconds, any value > 0;
	// the maximum keeps ticks*hz/2 inside an int up to hz 1000. No
	// user-timeout analogue. getsockopt cannot read the values back.
	netbsdPlatform = platform{
		name:         "netbsd",
		idle:         durOpt{"TCP_KEEPIDLE", 500 * ms, 500 * ms, 2147483 * second},
		interval:     durOpt{"TCP_KEEPINTVL", 500 * ms, 500 * ms, 2147483 * second},
		count:        countOpt{"TCP_KEEPCNT", maxInt32},
		notPerSocket: "NetBSD has no per-socket bound on unacknowledged data like TCP_USER_TIMEOUT",
		defaults:     Config{Idle: 7200 * second, Interval: 75 * second, Count: 8},
	}

	// DragonFly (tcp_usrreq.c, tcp_timer.c): seconds since 5.8
	// (__DragonFly_version 500702); dragonflyMsPlatform before that.
	dragonflyPlatform = platform{
		name:         "dragonfly",
		idle:         durOpt{"TCP_KEEPIDLE", second, second, 2147483 * second},
		interval:     durOpt{"TCP_KEEPINTVL", second, second, 2147483 * second},
		count:        countOpt{"TCP_KEEPCNT", maxInt32},
		notPerSocket: "DragonFly has no per-socket bound on unacknowledged data like TCP_USER_TIMEOUT",
		defaults:     Config{Idle: 7200 * second, Interval: 75 * second, Count: 8},
	}
	dragonflyMsPlatform = func() platform {
		p := dragonflyPlatform
		p.name = "dragonfly before 5.8"
		p.idle = durOpt{"TCP_KEEPIDLE", ms, ms, maxInt32 * ms}
		p.interval = durOpt{"TCP_KEEPINTVL", ms, ms, maxInt32 * ms}
		return p
	}()

	// OpenBSD (tcp_timer.c tcp_timer_keep): no per-socket options; every
	// connection with SO_KEEPALIVE uses the sysctls net.inet.tcp.keepidle
	// and keepintvl and is dropped after 8 unanswered probes.
	openbsdPlatform = platform{
		name:         "openbsd",
		fixedCount:   8,
		notPerSocket: "OpenBSD has no per-socket keepalive options; the sysctls net.inet.tcp.keepidle and net.inet.tcp.keepintvl apply to every connection, with 8 probes",
		defaults:     Config{Idle: 7200 * second, Interval: 75 * second, Count: 8},
	}
)

var (
	// illumos (inet/tcp/tcp_opt_data.c tcp_opt_set, tcp_timers.c):
	// TCP_KEEPIDLE in seconds, at least 10 s on releases before 2015 and on
	// Oracle Solaris (1 s since), at most 10 days; TCP_KEEPINTVL inside the
	// socket's RTO range (1..60 s by default); TCP_KEEPCNT*TCP_KEEPINTVL in
	// milliseconds must fit 32 bits, and with only one of the two set the
	// kernel derives the other from its 480 s probing default, so Validate
	// wants both or neither; TCP_ABORT_THRESHOLD in ms, checked when
	// the retransmission timer (up to 60 s) fires. The keepalive drop is a
	// strict >, seen one tick late. Defaults: 2 h idle, then 480 s of probing
	// with backoff, modelled as 8 probes 60 s apart.
	illumosPlatform = platform{
		name:        "illumos",
		idle:        durOpt{"TCP_KEEPIDLE", second, 10 * second, 864000 * second},
		interval:    durOpt{"TCP_KEEPINTVL", second, second, 60 * second},
		count:       countOpt{"TCP_KEEPCNT", 71582}, // 60 s * 71582 < 2^32 ms
		maxProbing:  (1<<32 - 1) * ms,
		userTimeout: durOpt{"TCP_ABORT_THRESHOLD", ms, 0, maxInt32 * ms},
		defaults:    Config{Idle: 7200 * second, Interval: 60 * second, Count: 8},

		strictAbort:             true,
		userTimeoutOnRetransmit: true,
		rexmtMax:                60 * second,
	}

	// Oracle Solaris 11.4: the same options under other numbers (Go's
	// net/tcpsockopt_solaris.go), TCP_KEEPIDLE and TCP_KEEPINTVL 10 s to 10
	// days (tcp(4P)). Not verified on a real system.
	solarisPlatform = func() platform {
		p := illumosPlatform
		p.name = "solaris"
		p.interval = durOpt{"TCP_KEEPINTVL", second, 10 * second, 864000 * second}
		p.count = countOpt{"TCP_KEEPCNT", 429496} // 10 s * 429496 < 2^32 ms; maxProbing bounds the product
		return p
	}()

	// AIX: TCP_KEEPIDLE, TCP_KEEPINTVL in seconds as Go's net package sets
	// them, TCP_KEEPCNT; no user-timeout analogue. Not verified on a real
	// system: AIX's own tunables (no -o tcp_keepidle) count half seconds.
	aixPlatform = platform{
		name:         "aix",
		idle:         durOpt{"TCP_KEEPIDLE", second, second, 2147483 * second},
		interval:     durOpt{"TCP_KEEPINTVL", second, second, 2147483 * second},
		count:        countOpt{"TCP_KEEPCNT", maxInt32},
		notPerSocket: "AIX has no per-socket bound on unacknowledged data like TCP_USER_TIMEOUT",
		defaults:     Config{Idle: 7200 * second, Interval: 75 * second, Count: 8},
	}

	// Windows 10 1709 (build 16299) and later: TCP_KEEPIDLE and
	// TCP_KEEPINTVL in seconds, TCP_KEEPCNT up to 255, TCP_MAXRT in seconds
	// for data in flight. Defaults: 2 h, 1 s, 10 probes.
	windowsPlatform = platform{
		name:        "windows",
		idle:        durOpt{"TCP_KEEPIDLE", second, second, 4294967 * second},
		interval:    durOpt{"TCP_KEEPINTVL", second, second, 4294967 * second},
		count:       countOpt{"TCP_KEEPCNT", 255},
		userTimeout: durOpt{"TCP_MAXRT", second, 0, maxInt32 * second},
		defaults:    Config{Idle: 7200 * second, Interval: second, Count: 10},

		userTimeoutOnRetransmit: true,
		rexmtMax:                60 * second,
		tick:                    16 * ms, // the default 15.6 ms clock
	}

	// Older Windows: SIO_KEEPALIVE_VALS sets idle time and interval together,
	// in milliseconds (a zero one gets Windows' default, 2 h or 1 s, since
	// the current values cannot be read), and 10 probes are always sent.
	windowsSIOPlatform = func() platform {
		p := windowsPlatform
		p.name = "windows before 10.0.16299"
		p.idle = durOpt{"SIO_KEEPALIVE_VALS keepalivetime", ms, ms, (1<<32 - 1) * ms}
		p.interval = durOpt{"SIO_KEEPALIVE_VALS keepaliveinterval", ms, ms, (1<<32 - 1) * ms}
		p.count = countOpt{}
		p.fixedCount = 10
		p.notPerSocket = "before Windows 10 1709 (build 16299) SIO_KEEPALIVE_VALS always sends 10 probes"
		return p
	}()
)

// platforms maps GOOS to its platform. ios is darwin.
var platforms = map[string]*platform{
	"linux":     &linuxPlatform,
	"android":   &linuxPlatform,
	"darwin":    &darwinPlatform,
	"ios":       &darwinPlatform,
	"freebsd":   &freebsdPlatform,
	"netbsd":    &netbsdPlatform,
	"dragonfly": &dragonflyPlatform,
	"openbsd":   &openbsdPlatform,
	"illumos":   &illumosPlatform,
	"solaris":   &solarisPlatform,
	"aix":       &aixPlatform,
	"windows":   &windowsPlatform,
}

// hostPlatform is the platform this program runs on; nil where the package
// has no implementation (js, wasip1, plan9). Per-OS files whose OS comes in
// versions with different options pick the variant at init.
var hostPlatform = platforms[runtime.GOOS]

func host() *platform { return hostPlatform }
