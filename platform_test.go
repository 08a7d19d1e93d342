package keepalive

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/internal/testkit"
)

// These tests check every operating system's rules (ranges, units, the
// detection formula) on whatever host runs them: the rules are data.

const s, msec = time.Second, time.Millisecond

func TestPlatformsCoverEveryClaimedGOOS(t *testing.T) {
	t.Parallel()
	for _, goos := range []string{"linux", "android", "darwin", "ios", "freebsd", "netbsd", "dragonfly", "openbsd", "illumos", "solaris", "aix", "windows"} {
		row := platforms[goos]
		require.NotNil(t, row.platform, goos)
		assert.NotEmpty(t, row.name)
		assert.NotZero(t, row.defaults.Idle, goos)
		assert.Equal(t, row.release != "", row.pick != nil, "%s: a release to read goes with a pick", goos)
	}
	for _, goos := range []string{"js", "wasip1", "plan9"} {
		assert.Nil(t, platforms[goos].platform, goos)
	}
	if p, err := hostPlatform(); platforms[runtime.GOOS].platform != nil && err == nil {
		assert.NotNil(t, p, "this host has an implementation")
		assert.Same(t, p, host(), "host's Linux shortcut agrees with the table")
	}
}

// The release decides the variant: each pick maps what its OS reports to
// the platform, whatever the host.
func TestPlatformPickByRelease(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		goos, release string
		want          *platform
		err           string // a part of the error; the platform is then nil
	}{
		{goos: "freebsd", release: "1400097", want: &freebsdPlatform},
		{goos: "freebsd", release: "1400000", want: &freebsdPlatform},
		{goos: "freebsd", release: "1399999", want: &freebsd13Platform},
		{goos: "freebsd", release: "1302001", want: &freebsd13Platform},
		{goos: "freebsd", release: "garbled", want: &freebsdPlatform},
		{goos: "dragonfly", release: "600400", want: &dragonflyPlatform},
		{goos: "dragonfly", release: "500702", want: &dragonflyPlatform},
		{goos: "dragonfly", release: "500701", want: &dragonflyMsPlatform},
		{goos: "windows", release: "10.0.22631", want: &windowsPlatform},
		{goos: "windows", release: "10.0.16299", want: &windowsPlatform},
		{goos: "windows", release: "10.0.15063", want: &windowsSIOPlatform},
		{goos: "windows", release: "6.1.7601", want: &windowsSIOPlatform}, // Windows 7 (Wine's default)
		{goos: "windows", release: "6.3.16299", want: &windowsSIOPlatform},
		{goos: "solaris", release: "11.4.0.15.0", want: &solarisPlatform},
		{goos: "solaris", release: "12.0", want: &solarisPlatform},
		{goos: "solaris", release: "11.3", err: "Solaris 11.3 has no TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT (11.4 added them)"},
		{goos: "solaris", release: "omnios-r151046-1a7b32a8fb", err: `uname version "omnios-r151046-1a7b32a8fb" is not Oracle Solaris 11.4 or later (illumos? build with GOOS=illumos)`},
		{goos: "linux", want: &linuxPlatform},
		{goos: "ios", want: &darwinPlatform},
		{goos: "js"},
	} {
		var asked string
		p, err := pickPlatform(tc.goos, func(from string) (string, error) {
			asked = from
			return tc.release, nil
		})
		if row := platforms[tc.goos]; row.pick != nil {
			assert.Equal(t, row.release, asked, "%s reads its release where its platform says", tc.goos)
		} else {
			assert.Empty(t, asked, "%s has no release to read", tc.goos)
		}
		if tc.err != "" {
			assert.Nil(t, p, "%s %s", tc.goos, tc.release)
			assert.ErrorIs(t, err, errors.ErrUnsupported)
			assert.ErrorContains(t, err, tc.err)
			continue
		}
		assert.NoError(t, err, "%s %s", tc.goos, tc.release)
		assert.Same(t, tc.want, p, "%s %s: got %s", tc.goos, tc.release, p.nameOrNil())
	}
	// A release that cannot be read keeps the OS's platform: its system
	// calls will say what is wrong.
	for _, goos := range []string{"freebsd", "dragonfly", "solaris", "windows"} {
		p, err := pickPlatform(goos, func(string) (string, error) { return "", syscall.ENOENT })
		assert.NoError(t, err, goos)
		assert.Same(t, platforms[goos].platform, p, goos)
	}
}

func (p *platform) nameOrNil() string {
	if p == nil {
		return "nil"
	}
	return p.name
}

// ReadSystem's conversions, with each OS's sysctls faked: names, units
// (NetBSD's ticks), fixed counts and what cannot be read.
func TestPlatformReadSystem(t *testing.T) {
	t.Parallel()
	fake := func(values map[string]int) func(string) (int, error) {
		return func(name string) (int, error) {
			v, ok := values[name]
			if !ok {
				return 0, &os.PathError{Op: "open", Path: name, Err: syscall.ENOENT}
			}
			return v, nil
		}
	}
	linux := map[string]int{
		"net.ipv4.tcp_keepalive_time": 7200, "net.ipv4.tcp_keepalive_intvl": 75, "net.ipv4.tcp_keepalive_probes": 9,
		"net.ipv4.tcp_retries2": 15, "net.ipv4.tcp_rto_max_ms": 60000,
	}
	bsd := map[string]int{"net.inet.tcp.keepidle": 7200000, "net.inet.tcp.keepintvl": 75000, "net.inet.tcp.keepcnt": 8}
	for _, tc := range []struct {
		p      *platform
		values map[string]int
		want   System
	}{
		{&linuxPlatform, linux, System{Idle: 7200 * s, Interval: 75 * s, Count: 9, Retries2: 15, RTOMax: 60 * s}},
		{&darwinPlatform, bsd, System{Idle: 7200 * s, Interval: 75 * s, Count: 8}},
		{&freebsdPlatform, bsd, System{Idle: 7200 * s, Interval: 75 * s, Count: 8}},
		{&dragonflyMsPlatform, bsd, System{Idle: 7200 * s, Interval: 75 * s, Count: 8}},
		{&netbsdPlatform, map[string]int{"net.inet.tcp.slowhz": 2, "net.inet.tcp.keepidle": 14400, "net.inet.tcp.keepintvl": 150, "net.inet.tcp.keepcnt": 8},
			System{Idle: 7200 * s, Interval: 75 * s, Count: 8}},
		{&openbsdPlatform, map[string]int{"net.inet.tcp.keepidle": 7200, "net.inet.tcp.keepintvl": 75}, System{Idle: 7200 * s, Interval: 75 * s, Count: 8}},
	} {
		got, err := tc.p.readSystem(fake(tc.values))
		require.NoError(t, err, tc.p.name)
		assert.Equal(t, tc.want, got, tc.p.name)
	}
	// tcp_rto_max_ms came with Linux 6.15: 120 s before.
	delete(linux, "net.ipv4.tcp_rto_max_ms")
	got, err := linuxPlatform.readSystem(fake(linux))
	require.NoError(t, err)
	assert.Equal(t, 120*s, got.RTOMax)
	// Any other missing sysctl is an error that names it.
	delete(linux, "net.ipv4.tcp_keepalive_probes")
	_, err = linuxPlatform.readSystem(fake(linux))
	assert.ErrorIs(t, err, syscall.ENOENT)
	assert.ErrorContains(t, err, "reading sysctl net.ipv4.tcp_keepalive_probes")
	_, err = netbsdPlatform.readSystem(fake(map[string]int{"net.inet.tcp.slowhz": 0}))
	assert.ErrorContains(t, err, "sysctl net.inet.tcp.slowhz is 0")
	// Where the system keeps them out of reach, nothing is read.
	for _, p := range []*platform{&illumosPlatform, &solarisPlatform, &aixPlatform} {
		_, err := p.readSystem(func(name string) (int, error) { panic("read " + name) })
		assert.ErrorIs(t, err, errors.ErrUnsupported, p.name)
		assert.ErrorContains(t, err, p.name+" keeps its keepalive defaults in ", p.name)
	}
}

func TestPlatformValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    *platform
		cfg  Config
		want string // "" means valid; else a part of the error
		is   error  // what the error wraps
	}{
		{&linuxPlatform, Config{Idle: s, Interval: s, Count: 127, UserTimeout: msec}, "", nil},
		{&linuxPlatform, Config{Idle: 32768 * s}, "Idle 9h6m8s outside 1s..32767s (TCP_KEEPIDLE counts whole seconds", syscall.EINVAL},
		{&linuxPlatform, Config{Count: 128}, "Count 128 outside 1..127 (TCP_KEEPCNT)", syscall.EINVAL},
		{&linuxPlatform, Config{Count: -1}, "Count -1 outside 1..127 (TCP_KEEPCNT)", syscall.EINVAL},
		{&linuxPlatform, Config{UserTimeout: 1 << 31 * msec}, "UserTimeout 596h31m23.648s outside 0..596h31m23.647s (TCP_USER_TIMEOUT", syscall.EINVAL},

		{&darwinPlatform, Config{Idle: 4294967 * s, Interval: s, Count: math.MaxInt32, UserTimeout: 4294967 * s}, "", nil},
		{&darwinPlatform, Config{Idle: 4294968 * s}, "(TCP_KEEPALIVE counts whole seconds", syscall.EINVAL},
		{&darwinPlatform, Config{UserTimeout: 4294968 * s}, "(TCP_RXT_CONNDROPTIME counts whole seconds", syscall.EINVAL},

		{&freebsdPlatform, Config{Idle: s, Interval: s, Count: 8, UserTimeout: s}, "", nil},
		{&freebsdPlatform, Config{UserTimeout: 4294968 * s}, "(TCP_MAXUNACKTIME", syscall.EINVAL},

		// NetBSD counts half seconds and has no user timeout.
		{&netbsdPlatform, Config{Idle: 500 * msec, Interval: 500 * msec, Count: 1}, "", nil},
		{&netbsdPlatform, Config{UserTimeout: s}, "UserTimeout 1s cannot be set per connection on netbsd", errors.ErrUnsupported},
		{&dragonflyPlatform, Config{UserTimeout: s}, "cannot be set per connection on dragonfly", errors.ErrUnsupported},
		{&dragonflyMsPlatform, Config{Idle: msec, Interval: msec}, "", nil},
		{&aixPlatform, Config{UserTimeout: s}, "cannot be set per connection on aix", errors.ErrUnsupported},

		// OpenBSD: only SO_KEEPALIVE; every value is refused, not ignored.
		{&openbsdPlatform, Config{}, "", nil},
		{&openbsdPlatform, Config{Idle: s}, "Idle 1s cannot be set per connection on openbsd (OpenBSD has no per-socket keepalive options; the sysctls net.inet.tcp.keepidle", errors.ErrUnsupported},
		{&openbsdPlatform, Config{Count: 3}, "Count 3 cannot be set per connection on openbsd", errors.ErrUnsupported},
		{&openbsdPlatform, Config{Count: -3}, "Count -3 is negative", syscall.EINVAL},
		{&openbsdPlatform, Config{UserTimeout: s}, "UserTimeout 1s cannot be set per connection on openbsd", errors.ErrUnsupported},
		{&openbsdPlatform, Config{Idle: -s}, "Idle -1s is negative", syscall.EINVAL},
		{&netbsdPlatform, Config{UserTimeout: -s}, "UserTimeout -1s is negative", syscall.EINVAL},
		{&freebsd13Platform, Config{UserTimeout: s}, "UserTimeout 1s cannot be set per connection on freebsd before 14 (TCP_MAXUNACKTIME came with FreeBSD 14)", errors.ErrUnsupported},

		// illumos: Idle at least 10 s, Interval inside the RTO range.
		{&illumosPlatform, Config{Idle: 10 * s, Interval: 60 * s, Count: 71582, UserTimeout: 500 * msec}, "", nil},
		{&illumosPlatform, Config{Idle: 9 * s}, "Idle 9s outside 10s..864000s (TCP_KEEPIDLE", syscall.EINVAL},
		{&illumosPlatform, Config{Interval: 61 * s}, "Interval 1m1s outside 1s..60s (TCP_KEEPINTVL", syscall.EINVAL},
		{&solarisPlatform, Config{Interval: 9 * s}, "Interval 9s outside 10s..864000s", syscall.EINVAL},
		{&illumosPlatform, Config{Interval: 5 * s}, "set Interval and Count together on illumos (Interval 5s, Count 0)", syscall.EINVAL},
		{&illumosPlatform, Config{Count: 3}, "set Interval and Count together on illumos", syscall.EINVAL},
		{&solarisPlatform, Config{Interval: 864000 * s, Count: 4971}, "Count*Interval 1193040h0m0s above 1193h2m47.295s on solaris", syscall.EINVAL},
		{&solarisPlatform, Config{Interval: 10 * s, Count: 429496}, "", nil},

		{&windowsPlatform, Config{Idle: s, Interval: s, Count: 255, UserTimeout: s}, "", nil},
		{&windowsPlatform, Config{Count: 256}, "Count 256 outside 1..255 (TCP_KEEPCNT)", syscall.EINVAL},
		{&windowsSIOPlatform, Config{Idle: msec, Interval: 1500 * msec}, "", nil},
		{&windowsSIOPlatform, Config{Count: 5}, "Count 5 cannot be set per connection on windows before 10.0.16299 (before Windows 10 1709 (build 16299) SIO_KEEPALIVE_VALS always sends 10 probes)", errors.ErrUnsupported},
		{&windowsSIOPlatform, Config{Idle: 1 << 32 * msec}, "outside 1ms..1193h2m47.295s (SIO_KEEPALIVE_VALS keepalivetime counts whole milliseconds", syscall.EINVAL},
	} {
		err := tc.p.validate(tc.cfg)
		if tc.want == "" {
			assert.NoError(t, err, "%s %+v", tc.p.name, tc.cfg)
			continue
		}
		if assert.Error(t, err, "%s %+v", tc.p.name, tc.cfg) {
			assert.Contains(t, err.Error(), tc.want)
			assert.ErrorIs(t, err, tc.is)
		}
	}
	var none *platform
	assert.ErrorIs(t, none.validate(Config{}), errors.ErrUnsupported)
}

func TestPlatformRounded(t *testing.T) {
	t.Parallel()
	c := Config{Idle: 1200 * msec, Interval: 2*s + 1, Count: 3, UserTimeout: 1500 * time.Microsecond}
	for _, tc := range []struct {
		p    *platform
		want Config
	}{
		{&linuxPlatform, Config{Idle: 2 * s, Interval: 3 * s, Count: 3, UserTimeout: 2 * msec}},
		{&darwinPlatform, Config{Idle: 2 * s, Interval: 3 * s, Count: 3, UserTimeout: s}},
		{&netbsdPlatform, Config{Idle: 1500 * msec, Interval: 2500 * msec, Count: 3, UserTimeout: 1500 * time.Microsecond}},
		{&dragonflyMsPlatform, Config{Idle: 1200 * msec, Interval: 2001 * msec, Count: 3, UserTimeout: 1500 * time.Microsecond}},
		{&illumosPlatform, Config{Idle: 2 * s, Interval: 3 * s, Count: 3, UserTimeout: 2 * msec}},
		{&windowsSIOPlatform, Config{Idle: 1200 * msec, Interval: 2001 * msec, Count: 3, UserTimeout: s}},
	} {
		assert.Equal(t, tc.want, tc.p.rounded(c), tc.p.name)
	}
}

// The detection formula of each system, with its compiled-in defaults for
// zero fields (these are not the host: nothing is read from the system).
func TestPlatformDetectionTime(t *testing.T) {
	t.Parallel()
	tick := 10 * msec
	for _, tc := range []struct {
		p    *platform
		cfg  Config
		want time.Duration
	}{
		{&linuxPlatform, Config{Idle: s, Interval: s, Count: 3}, 4 * s},
		{&linuxPlatform, Config{Idle: s, Interval: s, Count: 9, UserTimeout: 2500 * msec}, 3 * s}, // UserTimeout caps probing
		{&linuxPlatform, Config{}, 7875 * s},
		{&darwinPlatform, Config{Idle: s, Interval: s, Count: 9, UserTimeout: 2500 * msec}, 10 * s}, // only data in flight
		{&darwinPlatform, Config{}, 7200*s + 8*75*s},
		{&freebsdPlatform, Config{Idle: 10 * s, Interval: 5 * s, Count: 3}, 25 * s},
		{&netbsdPlatform, Config{Idle: 1500 * msec, Interval: 500 * msec, Count: 2}, 2500 * msec},
		{&openbsdPlatform, Config{}, 7200*s + 8*75*s},
		{&illumosPlatform, Config{Idle: 10 * s, Interval: 5 * s, Count: 3}, 25*s + tick}, // strict >
		{&illumosPlatform, Config{}, 7200*s + 480*s + tick},
		{&aixPlatform, Config{Idle: 10 * s, Interval: 5 * s, Count: 3}, 25 * s},
		{&windowsPlatform, Config{}, 7200*s + 10*s},
		{&windowsPlatform, Config{Idle: 10 * s, Interval: 5 * s, Count: 3}, 25 * s},
		{&windowsSIOPlatform, Config{Idle: 10 * s, Interval: 5 * s}, 60 * s},                                   // always 10 probes
		{&darwinPlatform, Config{Idle: 4294967 * s, Interval: 4294967 * s, Count: math.MaxInt32}, maxDuration}, // saturates
	} {
		// A zero System stands for the compiled-in defaults.
		p := tc.p
		d := p.detection(tc.cfg, System{})
		assert.Equal(t, tc.want, d.Idle, "%s %+v", p.name, tc.cfg)
		assert.GreaterOrEqual(t, d.IdleMax, d.Idle, "%s %+v", p.name, tc.cfg)
		assert.LessOrEqual(t, d.IdleMin, d.Idle, "%s %+v", p.name, tc.cfg)
	}
	var none *platform
	assert.Zero(t, none.detection(Config{Idle: s}, System{}))
	// Zero fields come from the System passed in, never from the host.
	sys := System{Idle: 20 * s, Interval: 3 * s, Count: 4}
	assert.Equal(t, 32*s, linuxPlatform.detection(Config{}, sys).Idle)
	assert.Equal(t, 10*s+12*s, linuxPlatform.detection(Config{Idle: 10 * s}, sys).Idle)
	assert.Equal(t, 20*s+3*s*8, openbsdPlatform.detection(Config{}, sys).Idle, "OpenBSD always sends 8 probes")
}

func TestPlatformWorstCase(t *testing.T) {
	t.Parallel()
	c := Config{Idle: 10 * s, Interval: 5 * s, Count: 3}
	wheel := func(d, tick time.Duration) time.Duration { return (d*8+62)/63 + tick }
	// macOS coalesces its keepalive timer to 500 ms.
	assert.Equal(t, 25*s+wheel(10*s, 0)+3*wheel(5*s, 0)+4*500*msec, darwinPlatform.detection(c, System{}).IdleMax)
	assert.Equal(t, 25*s+wheel(10*s, 10*msec)+3*wheel(5*s, 10*msec)+10*msec, illumosPlatform.detection(c, System{}).IdleMax)
}

func TestPlatformInFlight(t *testing.T) {
	t.Parallel()
	wheel := func(d time.Duration) time.Duration { return (d*8+62)/63 + 10*msec }
	inFlight := func(p *platform, c Config, sys System) (time.Duration, time.Duration) {
		d := p.detection(c, sys)
		return d.InFlightMin, d.InFlightMax
	}
	ut := Config{UserTimeout: 20 * s}
	// From the write: the first retransmission comes up to two late RTO
	// timers after it (a tail-loss probe, then the retransmission); the
	// RTO is 1 s unless the System says.
	start := 2 * (s + wheel(s))
	// Linux clamps the retransmission timer to the user timeout, but an
	// ICMP unreachable re-arms it unclamped: up to the user timeout plus
	// one RTO later, at most RTOMax.
	lo, hi := inFlight(&linuxPlatform, ut, System{Retries2: 3})
	assert.Equal(t, 20*s, lo)
	assert.Equal(t, 20*s+21*s+wheel(21*s)+start, hi)
	_, hi = inFlight(&linuxPlatform, ut, System{RTO: 300 * msec})
	assert.Equal(t, 20*s+20300*msec+wheel(20300*msec)+2*(300*msec+wheel(300*msec)), hi, "the connection's RTO")
	_, hi = inFlight(&linuxPlatform, ut, System{RTOMax: 5 * s})
	assert.Equal(t, 20*s+5*s+wheel(5*s)+start, hi, "never beyond RTOMax")
	// The BSDs check it when the backed-off timer fires.
	lo, hi = inFlight(&freebsdPlatform, ut, System{})
	assert.Equal(t, 20*s, lo)
	assert.Equal(t, 40*s+wheel(20*s)+start, hi)
	lo, hi = inFlight(&freebsdPlatform, Config{UserTimeout: 100 * s}, System{})
	assert.Equal(t, 100*s, lo)
	assert.Equal(t, 164*s+wheel(64*s)+start, hi, "never later than the maximum retransmission timeout")
	// Without UserTimeout, only Linux has a model: tcp_retries2 from the System.
	lo, hi = inFlight(&linuxPlatform, Config{}, System{Retries2: 3, RTOMax: 120 * s})
	assert.Equal(t, 3*s, lo)
	assert.Equal(t, 123*s+wheel(120*s)+start, hi)
	lo, hi = inFlight(&linuxPlatform, Config{}, System{})
	assert.Equal(t, 924600*msec, lo, "a zero System is the kernel's default, tcp_retries2 15")
	// Data that never left waits on 16 window probes from the 1 s RTO:
	// 1+2+...+64 s, then 9 x 120 s, beyond the retransmission budget.
	assert.Equal(t, linuxPlatform.probeBudget(15, s, 120*s), hi)
	assert.Greater(t, hi, 1207*s)
	for _, p := range []*platform{&darwinPlatform, &netbsdPlatform, &openbsdPlatform, &windowsPlatform, nil} {
		lo, hi = inFlight(p, Config{}, System{Retries2: 3})
		assert.Zero(t, lo)
		assert.Zero(t, hi)
	}
}

// The tcp_retries2 budget (tcp_model_timeout), from the first retransmission.
func TestModelTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		retries2   int
		rtoMax, lo time.Duration
	}{
		{15, 120 * s, 924600 * msec},
		{3, 120 * s, 3000 * msec},
		{5, 120 * s, 12600 * msec},
		{9, 120 * s, 204600 * msec},
		{10, 120 * s, 324600 * msec},
		// A shorter RTOMax lowers the threshold: ilog2(60 s/200 ms) = 8.
		{10, 60 * s, 102200*msec + 2*60000*msec},
		{0, 120 * s, 924600 * msec},                     // zero: the default, 15
		{math.MaxInt, 120 * s, 204600*msec + 246*120*s}, // the kernel keeps a u8
	} {
		assert.Equal(t, tc.lo, modelTimeout(tc.retries2, rtoMin, tc.rtoMax), "%+v", tc)
	}
	assert.Positive(t, modelTimeout(15, rtoMin, 1<<62))
}

// The window-probe budget: retries2 + 1 firings, each doubling from the
// base up to RTOMax and late by its slack.
func TestProbeBudget(t *testing.T) {
	t.Parallel()
	late := func(d time.Duration) time.Duration { return d + (d*8+62)/63 + 10*msec } // the wheel's 8/63 and a tick
	assert.Equal(t, late(s)+late(2*s)+late(4*s)+late(8*s), linuxPlatform.probeBudget(3, s, 120*s))
	assert.Equal(t, late(s)+late(2*s)+2*late(3*s), linuxPlatform.probeBudget(3, s, 3*s), "capped at RTOMax")
	assert.Equal(t, maxDuration, linuxPlatform.probeBudget(255, 1<<62, maxDuration), "saturates")
}

// The zero-window case: only a user timeout ends it on Linux, counted from
// the first window probe, one RTO after the window closed.
func TestPlatformZeroWindow(t *testing.T) {
	t.Parallel()
	wheel := func(d time.Duration) time.Duration { return (d*8+62)/63 + 10*msec }
	d := linuxPlatform.detection(Config{UserTimeout: 3 * s}, System{})
	assert.Equal(t, 3*s, d.ZeroWindowMin)
	assert.Equal(t, 3*s+wheel(3*s)+s+wheel(s), d.ZeroWindowMax)
	d = linuxPlatform.detection(Config{UserTimeout: 3 * s}, System{RTO: 200 * msec})
	assert.Equal(t, 3*s+wheel(3*s)+200*msec+wheel(200*msec), d.ZeroWindowMax, "the connection's RTO")
	d = linuxPlatform.detection(Config{Idle: s, Interval: s, Count: 1}, System{})
	assert.Equal(t, Never, d.ZeroWindowMin, "keepalive never ends it: the peer answers")
	assert.Equal(t, Never, d.ZeroWindowMax)
	for _, p := range []*platform{&darwinPlatform, &freebsdPlatform, &windowsPlatform, nil} {
		d = p.detection(Config{UserTimeout: 3 * s}, System{})
		assert.Zero(t, d.ZeroWindowMin, "not modelled")
		assert.Zero(t, d.ZeroWindowMax, "not modelled")
	}
}

func TestPlatformWithin(t *testing.T) {
	t.Parallel()
	for _, p := range []*platform{&linuxPlatform, &darwinPlatform, &freebsdPlatform, &illumosPlatform, &solarisPlatform, &windowsPlatform} {
		for _, tc := range []struct{ deadline, middlebox time.Duration }{
			{30 * s, 0}, {30 * s, 350 * s}, {5 * time.Minute, 240 * s}, {time.Hour, 0}, {100 * time.Hour, 0},
		} {
			c, err := p.within(tc.deadline, tc.middlebox)
			if !assert.NoError(t, err, "%s %v %v", p.name, tc.deadline, tc.middlebox) {
				continue
			}
			assert.NoError(t, p.validate(c))
			d := p.detection(c, System{})
			assert.LessOrEqual(t, d.IdleMax, tc.deadline, "%s %+v", p.name, c)
			assert.LessOrEqual(t, d.InFlightMax, tc.deadline, "%s %+v", p.name, c)
			if tc.middlebox > 0 {
				assert.LessOrEqual(t, c.Idle+p.timerSlack(c.Idle)+s, tc.middlebox, "%s %+v", p.name, c)
			}
		}
	}
	// illumos cannot go below its 10 s Idle.
	_, err := illumosPlatform.within(5*s, 0)
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.ErrorContains(t, err, "on illumos")
	// Without a bound for data in flight, Within says so.
	for _, p := range []*platform{&netbsdPlatform, &dragonflyPlatform, &openbsdPlatform, &aixPlatform, &windowsSIOPlatform, &freebsd13Platform} {
		_, err := p.within(time.Minute, 0)
		assert.ErrorIs(t, err, errors.ErrUnsupported, p.name)
		assert.ErrorContains(t, err, p.name)
	}
}

// Every value passed to the kernel fits a C int (SetsockoptInt), also where
// Go's int is 32 bits (linux/386, windows/386); SIO_KEEPALIVE_VALS takes
// 32-bit unsigned milliseconds.
func TestPlatformMaximaFit32Bits(t *testing.T) {
	t.Parallel()
	all := map[string]*platform{"windows SIO": &windowsSIOPlatform, "dragonfly ms": &dragonflyMsPlatform, "freebsd 13": &freebsd13Platform}
	for goos, row := range platforms {
		all[goos] = row.platform
	}
	for goos, p := range all {
		for _, o := range []durOpt{p.idle, p.interval, p.userTimeout} {
			if o.name == "" {
				continue
			}
			limit := int64(math.MaxInt32)
			if p == &windowsSIOPlatform {
				limit = math.MaxUint32
			}
			assert.LessOrEqual(t, int64(o.max/o.unit), limit, "%s %s", goos, o.name)
			assert.Zero(t, o.max%o.unit, "%s %s: the maximum is a whole number of units", goos, o.name)
			assert.True(t, o.min == 0 || o.min >= o.unit, "%s %s", goos, o.name)
		}
		assert.LessOrEqual(t, int64(p.count.max), int64(math.MaxInt32), goos)
	}
}

// Within meets every deadline from the shortest possible one up, on every
// platform where it works: a longer deadline never fails, and the shortest
// is what its error message claims.
func TestPlatformWithinEveryDeadline(t *testing.T) {
	t.Parallel()
	for _, p := range []*platform{&linuxPlatform, &darwinPlatform, &freebsdPlatform, &illumosPlatform, &solarisPlatform, &windowsPlatform} {
		for _, middlebox := range []time.Duration{0, 350 * s} {
			var first time.Duration
			for d := 500 * msec; d <= 150*s; d += 500 * msec {
				c, err := p.within(d, middlebox)
				if err != nil {
					require.Zero(t, first, "%s: %v fails after %v worked: %v", p.name, d, first, err)
					assert.ErrorIs(t, err, syscall.EINVAL)
					continue
				}
				if first == 0 {
					first = d
				}
				require.NoError(t, p.validate(c))
				got := p.detection(c, System{})
				assert.LessOrEqual(t, got.IdleMax, d, "%s %+v", p.name, c)
				assert.LessOrEqual(t, got.InFlightMax, d, "%s %+v", p.name, c)
				assert.LessOrEqual(t, got.ZeroWindowMax, d, "%s %+v", p.name, c)
			}
			// The error names the shortest deadline; it really is one.
			_, err := p.within(first-500*msec, middlebox)
			shortest, perr := time.ParseDuration(regexp.MustCompile(`the shortest is about ([0-9.]+m?s)`).FindStringSubmatch(err.Error())[1])
			require.NoError(t, perr)
			assert.LessOrEqual(t, first, shortest.Truncate(500*msec)+500*msec, "%s, middlebox %v", p.name, middlebox)
		}
	}
}

// The option numbers in platforms.go are literals; they must
// be those of golang.org/x/sys (and, for Oracle Solaris, of Go's net
// package), for every architecture it has them for.
func TestPlatformOptionNumbers(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("skipping: runs the go command, which this OS cannot; Linux CI checks every OS's numbers")
	}
	testkit.SkipUnderWine(t, "no go command inside Wine; Linux CI checks every OS's numbers")
	goCmd := func(args ...string) string {
		out, err := exec.Command("go", args...).Output()
		require.NoError(t, err, "go %v", args)
		return strings.TrimSpace(string(out))
	}
	xsys := goCmd("list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys")
	goroot := goCmd("env", "GOROOT")
	glob := func(pattern string) []string {
		files, err := filepath.Glob(pattern)
		require.NoError(t, err)
		require.NotEmpty(t, files, pattern)
		return files
	}
	unixFiles := func(goos string) []string {
		return glob(filepath.Join(xsys, "unix", "zerrors_"+goos+"*.go"))
	}
	for _, tc := range []struct {
		p      *platform
		files  []string
		prefix string // of the constants' names
	}{
		{&linuxPlatform, unixFiles("linux"), ""},
		{&darwinPlatform, unixFiles("darwin"), ""},
		{&freebsdPlatform, unixFiles("freebsd"), ""},
		{&freebsd13Platform, unixFiles("freebsd"), ""},
		{&netbsdPlatform, unixFiles("netbsd"), ""},
		{&dragonflyPlatform, unixFiles("dragonfly"), ""},
		{&dragonflyMsPlatform, unixFiles("dragonfly"), ""},
		{&illumosPlatform, unixFiles("solaris"), ""}, // x/sys's solaris numbers are illumos's
		{&solarisPlatform, []string{filepath.Join(goroot, "src", "net", "tcpsockopt_solaris.go")}, "sys"},
		{&aixPlatform, unixFiles("aix"), ""},
		{&windowsPlatform, []string{filepath.Join(xsys, "windows", "types_windows.go")}, ""},
		{&windowsSIOPlatform, []string{filepath.Join(xsys, "windows", "types_windows.go")}, ""},
	} {
		defined := map[string][]int{}
		for _, f := range tc.files {
			for name, v := range intConsts(t, f) {
				defined[name] = append(defined[name], v)
			}
		}
		if tc.prefix != "" { // Go's net package names only what differs from illumos
			for name, v := range intConsts(t, unixFiles("solaris")[0]) {
				if _, ok := defined[tc.prefix+name]; !ok {
					defined[tc.prefix+name] = []int{v}
				}
			}
		}
		for _, o := range []struct {
			name string
			num  int
		}{{tc.p.idle.name, tc.p.idle.num}, {tc.p.interval.name, tc.p.interval.num}, {tc.p.count.name, tc.p.count.num}, {tc.p.userTimeout.name, tc.p.userTimeout.num}} {
			if o.name == "" || strings.HasPrefix(o.name, "SIO_") {
				continue
			}
			got := defined[tc.prefix+o.name]
			if assert.NotEmpty(t, got, "%s: %s%s not found in %v", tc.p.name, tc.prefix, o.name, tc.files) {
				assert.Equal(t, []int{o.num}, slices.Compact(got), "%s %s", tc.p.name, o.name)
			}
		}
	}
	if runtime.GOOS == "linux" {
		// The Linux path of setOptions uses its own constants.
		assert.Equal(t, []int{linuxTCPKeepIdle, linuxTCPKeepIntvl, linuxTCPKeepCnt, linuxTCPUserTimeout},
			[]int{linuxPlatform.idle.num, linuxPlatform.interval.num, linuxPlatform.count.num, linuxPlatform.userTimeout.num})
	}
}

// intConsts returns the integer constants a Go file defines as
// "NAME = value" or "NAME = OTHER".
func intConsts(t *testing.T, file string) map[string]int {
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	raw := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*(\w+)\s*(?://.*)?$`).FindAllStringSubmatch(string(b), -1) {
		raw[m[1]] = m[2]
	}
	consts := map[string]int{}
	for name, v := range raw {
		for range 3 { // an alias of an alias
			if w, ok := raw[v]; ok {
				v = w
			}
		}
		if n, err := strconv.ParseInt(v, 0, 64); err == nil {
			consts[name] = int(n)
		}
	}
	return consts
}

// Every platform's settings: the user timeout first, SO_KEEPALIVE last,
// each value in its option's unit, and nothing for an option the platform
// lacks or sets another way (SIO_KEEPALIVE_VALS).
func TestPlatformSettingsOrder(t *testing.T) {
	t.Parallel()
	all := map[string]*platform{"windows SIO": &windowsSIOPlatform, "dragonfly ms": &dragonflyMsPlatform, "freebsd 13": &freebsd13Platform}
	for goos, row := range platforms {
		all[goos] = row.platform
	}
	c := Config{Idle: 20 * s, Interval: 3 * s, Count: 4, UserTimeout: 29 * s}
	for goos, p := range all {
		var s [5]setting
		type named struct {
			name   string
			num, v int
		}
		var got, want []named
		for _, o := range s[:p.settings(c, &s)] {
			got = append(got, named{p.optName(o), o.num, o.v})
		}
		for _, o := range []struct {
			d   durOpt
			set time.Duration
		}{{p.userTimeout, c.UserTimeout}, {p.idle, c.Idle}, {p.interval, c.Interval}} {
			if o.d.num != 0 {
				want = append(want, named{o.d.name, o.d.num, int(o.set / o.d.unit)})
			}
		}
		if p.count.num != 0 {
			want = append(want, named{p.count.name, p.count.num, c.Count})
		}
		want = append(want, named{"SO_KEEPALIVE", 0, 1})
		assert.Equal(t, want, got, goos)
		n := p.settings(Config{}, &s)
		assert.Equal(t, []setting{{fieldKeepAlive, 0, 1}}, s[:n], "%s: a zero Config only turns keepalive on", goos)
	}
}
