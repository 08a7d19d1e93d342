package main

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/keepalive-go/keepalive"
)

const defaultsAbout = `Prints the keepalive settings a TCP socket gets when it sets none (on
Linux, the sysctls of this network namespace, with the retransmission
settings), and what they mean: how long until a dead peer is noticed on an
idle connection and on one with data in flight, and with Go's default dialer.`

const defaultsExample = `  keepalive defaults
  keepalive defaults --json | jq .idle.idle_model_s`

// goDefault is the keepalive Go's net package applies to every dialed and
// accepted connection unless told otherwise: 15 s, 15 s, 9.
func goDefault() keepalive.Config {
	c, _ := keepalive.FromNetConfig(net.KeepAliveConfig{Enable: true})
	return c
}

// settingNames names the system settings keepalive.ReadSystem reads:
// Linux's sysctls, or plain words elsewhere.
func settingNames(goos string) [5]string {
	if goos == "linux" || goos == "android" {
		return [5]string{"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
			"net.ipv4.tcp_retries2", "net.ipv4.tcp_rto_max_ms (120s where absent)"}
	}
	return [5]string{"keepalive idle", "keepalive interval", "keepalive probes", "retransmissions", "max retransmission timeout"}
}

// keepaliveOff says what happens to an idle connection that never set
// SO_KEEPALIVE, on goos; ok is false where that is not known, and the row
// is left out rather than guessed.
func keepaliveOff(goos string) (detected string, ok bool) {
	switch goos {
	case "linux", "android", "windows", "netbsd":
		return "never", true
	case "freebsd":
		// FreeBSD's tcp_always_keepalive defaults to 1: every connection
		// is probed with the settings above.
		return "as SO_KEEPALIVE on while net.inet.tcp.always_keepalive=1 (the default); never if it is 0", true
	case "darwin", "ios", "openbsd", "dragonfly":
		return "never, unless net.inet.tcp.always_keepalive=1", true
	}
	return "", false
}

type defaultsJSON struct {
	System jsonConfig `json:"system"` // keepalive.ReadSystem
	// Linux only, left out elsewhere.
	Retries2       *int       `json:"tcp_retries2,omitempty"`
	RTOMax         *seconds   `json:"tcp_rto_max_s,omitempty"`
	Idle           model      `json:"idle"`            // SO_KEEPALIVE on with the system's values
	GoDefault      jsonConfig `json:"go_default"`      // net.Dialer{} and net.Listen
	GoDefaultModel model      `json:"go_default_idle"` // its detection times
}

// defaultsView is what the defaults command shows, gathered apart from the
// printing so that other systems' output can be tested on this one.
type defaultsView struct {
	goos    string
	sys     keepalive.System
	rt      bool  // sys has the retransmission settings (Linux)
	idle    model // for sys
	goCfg   keepalive.Config
	goModel model
}

// newDefaultsView reads the system's settings through read
// (keepalive.ReadSystem, or a stand-in in tests). The retransmission part
// is Linux's only.
func newDefaultsView(goos string, read func() (keepalive.System, error)) (defaultsView, error) {
	v := defaultsView{goos: goos, goCfg: goDefault(), rt: goos == "linux" || goos == "android"}
	var err error
	if v.sys, err = read(); err != nil {
		return v, err
	}
	if v.idle, err = predict(keepalive.Config{}, v.sys); err != nil {
		return v, err
	}
	if v.goModel, err = predict(v.goCfg, v.sys); err != nil {
		return v, err
	}
	if !v.rt {
		// No retransmission model: whatever the library says without a
		// UserTimeout is not this system's.
		v.idle.FlightLo, v.idle.FlightHi = nil, nil
		v.goModel.FlightLo, v.goModel.FlightHi = nil, nil
	}
	return v, nil
}

func (v defaultsView) json() defaultsJSON {
	j := defaultsJSON{System: toJSON(keepaliveValues(v.sys)), Idle: v.idle, GoDefault: toJSON(v.goCfg), GoDefaultModel: v.goModel}
	if v.rt {
		r2, rto := v.sys.Retries2, seconds(v.sys.RTOMax)
		j.Retries2, j.RTOMax = &r2, &rto
	}
	return j
}

func runDefaults(stdout, stderr io.Writer, args []string) int {
	fs := newFlags(stdout, "defaults", "[--json]", defaultsAbout, defaultsExample)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if code, ok := fs.parse(stderr, args); !ok {
		return code
	}
	v, err := newDefaultsView(runtime.GOOS, keepalive.ReadSystem)
	if err != nil {
		return fail(stderr, "defaults", err)
	}
	if *asJSON {
		if err := writeJSON(stdout, v.json()); err != nil {
			return fail(stderr, "defaults", err)
		}
		return exitOK
	}
	v.print(stdout)
	return exitOK
}

func (v defaultsView) print(w io.Writer) {
	sys, idle, goCfg, goModel := v.sys, v.idle, v.goCfg, v.goModel
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	linux := v.goos == "linux" || v.goos == "android"
	if linux {
		fmt.Fprintln(w, "The settings a TCP socket gets when it sets none (the sysctls of this network namespace):")
	} else {
		fmt.Fprintf(w, "The settings a TCP socket gets when it sets none (the system's defaults on %s):\n", v.goos)
	}
	fmt.Fprintln(w)
	n := settingNames(v.goos)
	fmt.Fprintln(tw, "setting\tvalue\tmeaning")
	fmt.Fprintf(tw, "%s\t%s\tidle time before the first keepalive probe\n", n[0], secs(sys.Idle))
	fmt.Fprintf(tw, "%s\t%s\ttime between unanswered probes\n", n[1], secs(sys.Interval))
	fmt.Fprintf(tw, "%s\t%d\tunanswered probes before the peer is declared dead\n", n[2], sys.Count)
	if v.rt {
		fmt.Fprintf(tw, "%s\t%d\tretransmissions of unacknowledged data before giving up\n", n[3], sys.Retries2)
		fmt.Fprintf(tw, "%s\t%s\tlongest wait between two retransmissions\n", n[4], dur(sys.RTOMax))
	}
	tw.Flush()

	fmt.Fprintln(w)
	fmt.Fprintln(w, "What that means when the peer dies (host down, cable pulled, NAT forgot the flow):")
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "connection\tdetected after\tworst case\tcounted from")
	if off, ok := keepaliveOff(v.goos); ok {
		worst := ""
		if off == "never" {
			worst = off
		}
		fmt.Fprintf(tw, "idle, SO_KEEPALIVE off (a socket's default)\t%s\t%s\t\n", off, worst)
	}
	fmt.Fprintf(tw, "idle, SO_KEEPALIVE on, these settings\t%s\t%s\tthe last segment received\n",
		idle.idleText(), dur(time.Duration(idle.Worst)))
	fmt.Fprintf(tw, "idle, Go's net.Dialer{} (%s/%s/%d)\t%s\t%s\tthe last segment received\n",
		goCfg.Idle, goCfg.Interval, goCfg.Count, goModel.idleText(), dur(time.Duration(goModel.Worst)))
	lo, hi := idle.flightText(v.goos)
	from := "the write"
	if idle.FlightHi == nil {
		from = "(bounded only by the system's retransmission limit; a UserTimeout bounds it)"
	}
	fmt.Fprintf(tw, "data in flight, no user timeout\t%s\t%s\t%s\n", lo, hi, from)
	if zlo, zhi := idle.zeroWindowText(v.goos); idle.ZeroNever || idle.ZeroHi != nil {
		fmt.Fprintf(tw, "peer stops reading (zero window)\t%s\t%s\tthe first write the closed window holds back\n", zlo, zhi)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "For a deadline of your own: keepalive plan --within 30s")
}
