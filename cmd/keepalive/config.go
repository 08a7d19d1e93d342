package main

import (
	"errors"
	"flag"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/keepalive-go/keepalive"
)

// configFlags adds --idle, --interval, --count and --user-timeout to fs,
// starting at def.
func configFlags(fs *flag.FlagSet, def keepalive.Config) *keepalive.Config {
	c := def
	h := flagHelp(runtime.GOOS)
	fs.DurationVar(&c.Idle, "idle", def.Idle, h[0])
	fs.DurationVar(&c.Interval, "interval", def.Interval, h[1])
	fs.IntVar(&c.Count, "count", def.Count, h[2])
	fs.DurationVar(&c.UserTimeout, "user-timeout", def.UserTimeout, h[3])
	return &c
}

// flagHelp is the help of --idle, --interval, --count and --user-timeout:
// with Linux's option names and ranges on Linux; elsewhere neutral, since
// options, units and ranges differ per OS and Validate's errors name them.
func flagHelp(goos string) [4]string {
	if goos == "linux" || goos == "android" {
		return [4]string{
			"idle time before the first probe (TCP_KEEPIDLE; whole seconds, 1s..32767s; 0: the system's)",
			"time between unanswered probes (TCP_KEEPINTVL; 1s..32767s; 0: the system's)",
			"unanswered probes that declare the peer dead (TCP_KEEPCNT; 1..127; 0: the system's)",
			"max time sent data may stay unacknowledged (TCP_USER_TIMEOUT; ms; 0: off)",
		}
	}
	return [4]string{
		"idle time before the first probe (0: the system's default; a value out of this system's range is refused with the range)",
		"time between unanswered probes (0: the system's default)",
		"unanswered probes that declare the peer dead (0: the system's default)",
		"max time sent data may stay unacknowledged (0: off; refused where the system has no such option)",
	}
}

// validateFlags checks each field on its own with the library's Validate, so
// the message names the flag as well as the range the kernel accepts.
func validateFlags(c keepalive.Config) error {
	for _, f := range []struct {
		flag string
		c    keepalive.Config
	}{
		{"--idle", keepalive.Config{Idle: c.Idle}},
		{"--interval", keepalive.Config{Interval: c.Interval}},
		{"--count", keepalive.Config{Count: c.Count}},
		{"--user-timeout", keepalive.Config{UserTimeout: c.UserTimeout}},
	} {
		if err := f.c.Validate(); err != nil {
			if errors.Is(err, errors.ErrUnsupported) {
				return err
			}
			return fmt.Errorf("%s: %w", f.flag, err)
		}
	}
	return c.Validate() // nothing left to find, but the library has the last word
}

// configString prints c the way the Go code would read: zero fields left out.
func configString(c keepalive.Config) string { return literal("Config", c, dur) }

// goConfig prints c as a Go composite literal.
func goConfig(c keepalive.Config) string { return literal("keepalive.Config", c, goDuration) }

// literal prints c as typeName{...}, zero fields left out, durations with d.
func literal(typeName string, c keepalive.Config, d func(time.Duration) string) string {
	var fields []string
	if c.Idle != 0 {
		fields = append(fields, "Idle: "+d(c.Idle))
	}
	if c.Interval != 0 {
		fields = append(fields, "Interval: "+d(c.Interval))
	}
	if c.Count != 0 {
		fields = append(fields, "Count: "+fmt.Sprint(c.Count))
	}
	if c.UserTimeout != 0 {
		fields = append(fields, "UserTimeout: "+d(c.UserTimeout))
	}
	return typeName + "{" + strings.Join(fields, ", ") + "}"
}

// jsonConfig is a Config for scripts, in seconds.
type jsonConfig struct {
	Idle        seconds `json:"idle_s"`
	Interval    seconds `json:"interval_s"`
	Count       int     `json:"count"`
	UserTimeout seconds `json:"user_timeout_s"`
}

func toJSON(c keepalive.Config) jsonConfig {
	return jsonConfig{seconds(c.Idle), seconds(c.Interval), c.Count, seconds(c.UserTimeout)}
}

// model is what the library predicts for a Config (keepalive.Detection).
type model struct {
	Idle     seconds `json:"idle_model_s"`      // Detection.Idle
	Earliest seconds `json:"idle_earliest_s"`   // Detection.IdleMin
	Worst    seconds `json:"idle_worst_case_s"` // Detection.IdleMax
	// Detection.InFlightMin and InFlightMax; nil (left out of the JSON)
	// where the library has no model: without UserTimeout anywhere but
	// Linux.
	FlightLo *seconds `json:"in_flight_min_s,omitempty"`
	FlightHi *seconds `json:"in_flight_max_s,omitempty"`
	// Detection.ZeroWindowMin and ZeroWindowMax: a live peer that stops
	// reading, from the first write its closed window holds back. Only a
	// UserTimeout ends that: without one ZeroNever is true and both are
	// nil. All three are left out where the library has no model.
	ZeroLo    *seconds `json:"zero_window_min_s,omitempty"`
	ZeroHi    *seconds `json:"zero_window_max_s,omitempty"`
	ZeroNever bool     `json:"zero_window_never,omitempty"`
}

// predict is the library's model for c, with sys for its zero fields.
func predict(c keepalive.Config, sys keepalive.System) (model, error) {
	d, err := c.Detection(sys)
	if err != nil {
		return model{}, err
	}
	m := model{Idle: seconds(d.Idle), Earliest: seconds(d.IdleMin), Worst: seconds(d.IdleMax)}
	if d.InFlightMax > 0 { // 0 where the library cannot say
		l, h := seconds(d.InFlightMin), seconds(d.InFlightMax)
		m.FlightLo, m.FlightHi = &l, &h
	}
	switch {
	case d.ZeroWindowMax == keepalive.Never:
		m.ZeroNever = true
	case d.ZeroWindowMax > 0:
		l, h := seconds(d.ZeroWindowMin), seconds(d.ZeroWindowMax)
		m.ZeroLo, m.ZeroHi = &l, &h
	}
	return m, nil
}

// hostSystem is this host's System, or the kernel's compiled-in defaults
// (keepalive.System{}) where a program cannot read them (illumos, Solaris,
// AIX), as the library's model assumes there.
func hostSystem() (keepalive.System, error) {
	sys, err := keepalive.ReadSystem()
	if errors.Is(err, errors.ErrUnsupported) {
		return keepalive.System{}, nil
	}
	return sys, err
}

// keepaliveValues is the keepalive part of sys, as a Config.
func keepaliveValues(sys keepalive.System) keepalive.Config {
	return keepalive.Config{Idle: sys.Idle, Interval: sys.Interval, Count: sys.Count}
}

// withSystem is c with its zero keepalive fields from sys: the values in
// effect on a connection that holds c.
func withSystem(c keepalive.Config, sys keepalive.System) keepalive.Config {
	if c.Idle == 0 {
		c.Idle = sys.Idle
	}
	if c.Interval == 0 {
		c.Interval = sys.Interval
	}
	if c.Count == 0 {
		c.Count = sys.Count
	}
	return c
}

// flightText gives the in-flight detection window for a table, or says it
// is not modelled on goos.
func (m model) flightText(goos string) (lo, hi string) {
	if m.FlightHi == nil {
		return "not modelled on " + goos, "-"
	}
	return dur(time.Duration(*m.FlightLo)), dur(time.Duration(*m.FlightHi))
}

// zeroWindowText gives the zero-window detection window for a table:
// "never" without a UserTimeout, or says it is not modelled on goos.
func (m model) zeroWindowText(goos string) (lo, hi string) {
	switch {
	case m.ZeroNever:
		return "never", "never"
	case m.ZeroHi == nil:
		return "not modelled on " + goos, "-"
	}
	return dur(time.Duration(*m.ZeroLo)), dur(time.Duration(*m.ZeroHi))
}

// idleText says when an idle connection is declared dead: "25s (earliest
// 24.9s, worst case 27.4s)".
func (m model) idleText() string {
	s := dur(time.Duration(m.Idle))
	if m.Earliest != m.Idle {
		s += " (earliest " + dur(time.Duration(m.Earliest)) + ")"
	}
	return s
}
