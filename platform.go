package keepalive

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Files follow one rule for OSes: docs/platforms.md#files.

// A platform is what one operating system offers: the option behind each
// Config field, the unit its kernel counts in, the range it accepts, how it
// turns the values into a detection time, and where it keeps the values a
// socket gets when it sets none. It is plain data, so the rules of every
// system are checked by tests on any host (platform_test.go); the syscalls
// files read the option numbers and units from the host's platform.
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
	// refusedHint ends the error for an option a socket refuses
	// (ENOPROTOOPT): the likely reason on this OS. "is it a TCP socket?"
	// if empty.
	refusedHint string
	// maxProbing, if set, bounds Count*Interval: illumos keeps it as the
	// abort threshold in 32-bit milliseconds. It also means Interval and
	// Count must be set together, since the kernel derives one from the
	// other and its 480 s default otherwise.
	maxProbing time.Duration

	// defaults are the kernel's compiled-in values, used by the model where
	// the system's own cannot be read.
	defaults Config
	// system says where ReadSystem finds the system's values.
	system systemValues
	// release, for an OS whose options changed between releases, is where
	// the running release is read: a sysctl, or "uname -v". The pick
	// function of its row in platforms turns it into a platform.
	release string

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

// durOpt is a duration option: its name (empty where the OS has none), its
// number at level IPPROTO_TCP, the unit the kernel counts in, and the range
// it accepts after rounding up.
type durOpt struct {
	name     string
	num      int
	unit     time.Duration
	min, max time.Duration
}

type countOpt struct {
	name string
	num  int
	max  int
}

// systemValues names the settings that hold the keepalive values of a
// socket that sets none, which ReadSystem reads.
type systemValues struct {
	// idle, interval and count are sysctls (registry values on Windows);
	// count is empty where the kernel has a fixed count.
	idle, interval, count string
	// unit is what idle and interval count in, unless ticksPerSecond names
	// a sysctl saying how many of their units make a second.
	unit           time.Duration
	ticksPerSecond string
	// retries2 and rtoMaxMs (Linux) bound data in flight; rtoMaxMs is
	// missing before Linux 6.15, where the maximum RTO is 120 s.
	retries2, rtoMaxMs string
	// registryKey (Windows) holds idle and interval, under
	// HKEY_LOCAL_MACHINE; one that is absent has the default's value.
	registryKey string
	// unreadable, if set, is where the OS keeps the values out of a
	// program's reach: ReadSystem fails with errors.ErrUnsupported.
	unreadable string
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

func (o *durOpt) check(p *platform, field string, d time.Duration, zero string) error {
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

// readSystem reads p's system values with sysctl, which reads one integer
// setting by name (the syscalls files pass the host's).
func (p *platform) readSystem(sysctl func(name string) (int, error)) (System, error) {
	if p == nil {
		return System{}, errUnsupported()
	}
	s := p.system
	if s.unreadable != "" {
		return System{}, fmt.Errorf("keepalive: %s keeps its keepalive defaults in %s, which a program cannot read: %w",
			p.name, s.unreadable, errors.ErrUnsupported)
	}
	var err error
	get := func(name string) int {
		if err != nil {
			return 0
		}
		v, gerr := sysctl(name)
		if gerr != nil {
			err = fmt.Errorf("keepalive: reading sysctl %s: %w", name, gerr)
		}
		return v
	}
	unit := s.unit
	if s.ticksPerSecond != "" {
		switch hz := get(s.ticksPerSecond); {
		case err != nil:
			return System{}, err
		case hz <= 0:
			return System{}, fmt.Errorf("keepalive: sysctl %s is %d", s.ticksPerSecond, hz)
		default:
			unit = time.Second / time.Duration(hz)
		}
	}
	sys := System{Count: p.fixedCount}
	sys.Idle = time.Duration(get(s.idle)) * unit
	sys.Interval = time.Duration(get(s.interval)) * unit
	if s.count != "" {
		sys.Count = get(s.count)
	}
	if s.retries2 != "" {
		sys.Retries2 = get(s.retries2)
	}
	if err != nil {
		return System{}, err
	}
	if s.rtoMaxMs != "" {
		ms, err := sysctl(s.rtoMaxMs)
		switch {
		case errors.Is(err, os.ErrNotExist):
			sys.RTOMax = 120 * time.Second
		case err != nil:
			return System{}, fmt.Errorf("keepalive: reading sysctl %s: %w", s.rtoMaxMs, err)
		default:
			sys.RTOMax = time.Duration(ms) * time.Millisecond
		}
	}
	return sys, nil
}

const (
	second = time.Second
	ms     = time.Millisecond
	// maxInt32 bounds options the kernel keeps in a C int; it also keeps
	// every conversion safe where Go's int is 32 bits.
	maxInt32 = 1<<31 - 1
)

// platforms maps GOOS to its platform: adding an OS is its row in
// platforms.go and one here. An OS whose options changed between
// releases has pick, which maps the release its platform's release field
// names (read by osRelease) to the platform for it, or to an error when
// that release cannot set the options at all.
var platforms = map[string]struct {
	*platform
	pick func(release string) (*platform, error)
}{
	"linux":     {&linuxPlatform, nil},
	"android":   {&linuxPlatform, nil},
	"darwin":    {&darwinPlatform, nil},
	"ios":       {&darwinPlatform, nil},
	"freebsd":   {&freebsdPlatform, freebsdRelease},
	"netbsd":    {&netbsdPlatform, nil},
	"dragonfly": {&dragonflyPlatform, dragonflyRelease},
	"openbsd":   {&openbsdPlatform, nil},
	"illumos":   {&illumosPlatform, nil},
	"solaris":   {&solarisPlatform, solarisRelease},
	"aix":       {&aixPlatform, nil},
	"windows":   {&windowsPlatform, windowsRelease},
}

// pickPlatform is the platform for goos, reading the running release with
// osRelease where the OS needs it; nil where the package has no
// implementation (js, wasip1, plan9), with the error of a release that has
// no usable options. A release that cannot be read keeps the OS's current
// platform: its system calls will say what is wrong.
func pickPlatform(goos string, osRelease func(from string) (string, error)) (*platform, error) {
	row := platforms[goos]
	if row.pick == nil {
		return row.platform, nil
	}
	release, err := osRelease(row.release)
	if err != nil {
		return row.platform, nil
	}
	return row.pick(release)
}

// hostPlatform is pickPlatform for this program's OS, on first use.
var hostPlatform = sync.OnceValues(func() (*platform, error) { return pickPlatform(runtime.GOOS, osRelease) })

// host is the platform this program runs on; nil where the package has no
// implementation, or this release of the OS cannot set the options. Linux,
// whose options are the same in every release, skips the once: host is on
// Apply's path, and the call through it measurably slowed Apply.
func host() *platform {
	if runtime.GOOS == "linux" || runtime.GOOS == "android" {
		return &linuxPlatform
	}
	p, _ := hostPlatform()
	return p
}

func errUnsupported() error {
	if _, err := hostPlatform(); err != nil {
		return err
	}
	return fmt.Errorf("keepalive: TCP keepalive options cannot be set on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// setting is one option setOptions sets: a TCP-level option num, or, with
// num zero, SO_KEEPALIVE. The name, needed only for an error, is optName().
type setting struct {
	field, num, v int // field: index into fieldOpts
}

// settings fills s with what setOptions sets for c, already validated and
// rounded, in order, and returns how many. The user timeout goes first
// because it is the option a socket can refuse (Linux Multipath TCP
// sockets), so a refusal leaves the socket untouched; SO_KEEPALIVE goes
// last, so probing starts with the values in place. An option with no
// number (SIO_KEEPALIVE_VALS' fields) is the caller's.
func (p *platform) settings(c Config, s *[5]setting) int {
	n := 0
	if c.UserTimeout > 0 && p.userTimeout.num != 0 {
		s[n] = setting{fieldUserTimeout, p.userTimeout.num, units(c.UserTimeout, p.userTimeout.unit)}
		n++
	}
	if c.Idle > 0 && p.idle.num != 0 {
		s[n] = setting{fieldIdle, p.idle.num, units(c.Idle, p.idle.unit)}
		n++
	}
	if c.Interval > 0 && p.interval.num != 0 {
		s[n] = setting{fieldInterval, p.interval.num, units(c.Interval, p.interval.unit)}
		n++
	}
	if c.Count > 0 && p.count.num != 0 {
		s[n] = setting{fieldCount, p.count.num, c.Count}
		n++
	}
	s[n] = setting{fieldKeepAlive, 0, 1}
	return n + 1
}

const (
	fieldUserTimeout = iota
	fieldIdle
	fieldInterval
	fieldCount
	fieldKeepAlive
)

// optName is the option's name, for errors.
func (p *platform) optName(s setting) string {
	switch s.field {
	case fieldUserTimeout:
		return p.userTimeout.name
	case fieldIdle:
		return p.idle.name
	case fieldInterval:
		return p.interval.name
	case fieldCount:
		return p.count.name
	}
	return "SO_KEEPALIVE"
}

// units is d in the kernel's unit.
func units(d, unit time.Duration) int {
	q, _ := divUnit(d, unit)
	return int(q)
}

// divUnit is d / unit and d % unit. The common units are constants, which
// the compiler divides by without a division instruction: Apply's hot
// path.
func divUnit(d, unit time.Duration) (q, r time.Duration) {
	switch unit {
	case time.Second:
		return d / time.Second, d % time.Second
	case time.Millisecond:
		return d / time.Millisecond, d % time.Millisecond
	}
	return d / unit, d % unit
}
