package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keepalive-go/keepalive"
)

const planAbout = `Given keepalive values, prints how long a dead peer takes to be noticed
(the library's model and its worst case, on an idle connection and with data
in flight) and the Go code that sets them. Given a deadline (--within), prints
the Config keepalive.Within picks for it, and why. Zero values stand for the
system's (see keepalive defaults).`

const planExample = `  keepalive plan --idle 10s --interval 5s --count 3 --user-timeout 25s
  keepalive plan --within 30s --middlebox-idle 350s   # AWS NLB forgets idle flows after 350s
  keepalive plan --count 3 --json`

type planJSON struct {
	Within *withinJSON `json:"within,omitempty"`
	Config jsonConfig  `json:"config"`
	// System is the system's values the zero fields stand for.
	System *jsonConfig `json:"system_defaults,omitempty"`
	Model  model       `json:"model"`
	Go     string      `json:"go"`
}

type withinJSON struct {
	Deadline      seconds `json:"deadline_s"`
	MiddleboxIdle seconds `json:"middlebox_idle_s"`
}

func runPlan(stdout, stderr io.Writer, args []string) int {
	fs := newFlags(stdout, "plan", "[--idle D --interval D --count N --user-timeout D | --within D [--middlebox-idle D]] [--json]", planAbout, planExample)
	cfg := configFlags(fs.FlagSet, keepalive.Config{})
	within := fs.Duration("within", 0, "a deadline: pick a Config that detects a dead peer within it (keepalive.Within)")
	middlebox := fs.Duration("middlebox-idle", 0, "with --within: idle timeout of a NAT or load balancer on the path; Idle stays below it")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if code, ok := fs.parse(stderr, args); !ok {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	values := set["idle"] || set["interval"] || set["count"] || set["user-timeout"]
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "keepalive plan: "+format+"\n(keepalive plan --help shows the flags and examples)\n", a...)
		return exitUsage
	}
	switch {
	case set["within"] && values:
		return usageErr("use either --within or --idle/--interval/--count/--user-timeout, not both")
	case set["middlebox-idle"] && !set["within"]:
		return usageErr("--middlebox-idle goes with --within")
	case !set["within"] && !values:
		return usageErr("nothing to plan: give --idle, --interval, --count, --user-timeout, or --within")
	case set["within"] && *within <= 0:
		return usageErr("--within %v: the deadline must be positive", *within)
	case *middlebox < 0:
		return usageErr("--middlebox-idle %v: must be positive, or 0 for none", *middlebox)
	}

	var out planJSON
	c := *cfg
	if set["within"] {
		var err error
		c, err = keepalive.Within(*within, *middlebox)
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			return fail(stderr, "plan", err)
		case err != nil && *middlebox > 0:
			// Which flag is at fault: ask the library whether the
			// deadline alone can be met, instead of reading its text.
			if _, alone := keepalive.Within(*within, 0); alone != nil {
				return usageErr("--within: %v", alone)
			}
			return usageErr("--middlebox-idle: %v", err)
		case err != nil:
			return usageErr("--within: %v", err)
		}
		out.Within = &withinJSON{seconds(*within), seconds(*middlebox)}
	} else if err := validateFlags(c); errors.Is(err, errors.ErrUnsupported) {
		return fail(stderr, "plan", err)
	} else if err != nil {
		return usageErr("%v", err)
	}
	out.Config = toJSON(c)
	sys, err := hostSystem()
	if err != nil {
		return fail(stderr, "plan", err)
	}
	if out.Model, err = predict(c, sys); err != nil {
		return fail(stderr, "plan", err)
	}
	var sysValues keepalive.Config
	if c.Idle == 0 || c.Interval == 0 || c.Count == 0 {
		sysValues = keepaliveValues(sys)
		j := toJSON(sysValues)
		out.System = &j
	}
	out.Go = goCode(c, out.Within)
	if *asJSON {
		if err := writeJSON(stdout, out); err != nil {
			return fail(stderr, "plan", err)
		}
		return exitOK
	}
	printPlan(stdout, runtime.GOOS, c, sysValues, out)
	return exitOK
}

func goCode(c keepalive.Config, w *withinJSON) string {
	var b strings.Builder
	if w != nil {
		fmt.Fprintf(&b, "cfg, err := keepalive.Within(%s, %s)\n// = %s\n",
			goArg(time.Duration(w.Deadline)), goArg(time.Duration(w.MiddleboxIdle)), goConfig(c))
	} else {
		fmt.Fprintf(&b, "cfg := %s\n", goConfig(c))
	}
	b.WriteString(`conn, err := cfg.Dial(ctx, "tcp", addr) // or cfg.Listen(ctx, "tcp", ":8080"), cfg.Dialer(nil), cfg.Apply(conn)`)
	return b.String()
}

// printPlan prints the plan for people. goos picks the wording: Linux's
// sysctl names and formula, or neutral words elsewhere (tests pass other
// systems' names).
func printPlan(w io.Writer, goos string, c, sys keepalive.Config, p planJSON) {
	linux := goos == "linux" || goos == "android"
	m := p.Model
	if p.Within != nil {
		mb := "no middlebox"
		if p.Within.MiddleboxIdle > 0 {
			mb = "middlebox idle timeout " + secs(time.Duration(p.Within.MiddleboxIdle))
		}
		fmt.Fprintf(w, "keepalive.Within(%s, %s) picks %s:\n", dur(time.Duration(p.Within.Deadline)), mb, configString(c))
		fmt.Fprintf(w, "  - idle connection: dead peer detected after %s, at worst %s: within %s\n",
			m.idleText(), dur(time.Duration(m.Worst)), dur(time.Duration(p.Within.Deadline)))
		if _, hi := m.flightText(goos); m.FlightHi != nil {
			fmt.Fprintf(w, "  - data in flight: at worst %s after the write: within %s\n",
				hi, dur(time.Duration(p.Within.Deadline)))
		}
		if _, hi := m.zeroWindowText(goos); m.ZeroHi != nil {
			fmt.Fprintf(w, "  - peer stops reading (zero window): at worst %s after the window closes on a write\n", hi)
		}
		if p.Within.MiddleboxIdle > 0 {
			fmt.Fprintf(w, "  - Idle %s: even a late idle timer fires at least 1s before the middlebox forgets the flow (%s)\n",
				dur(c.Idle), secs(time.Duration(p.Within.MiddleboxIdle)))
		}
		fmt.Fprintf(w, "  - %d probes %s apart, the rest of the deadline to Idle: few probes on healthy connections\n", c.Count, dur(c.Interval))
		if linux {
			fmt.Fprintf(w, "  - UserTimeout = Idle + Count x Interval: bounds data in flight and keeps Count meaningful\n")
		} else {
			fmt.Fprintf(w, "  - UserTimeout = Idle + Count x Interval: bounds data in flight\n")
		}
	} else {
		fmt.Fprintf(w, "%s on this machine:\n", configString(c))
	}
	if p.System != nil {
		var zero []string
		n := settingNames(goos)
		if c.Idle == 0 {
			zero = append(zero, "Idle "+secs(sys.Idle)+" ("+n[0]+")")
		}
		if c.Interval == 0 {
			zero = append(zero, "Interval "+secs(sys.Interval)+" ("+n[1]+")")
		}
		if c.Count == 0 {
			zero = append(zero, fmt.Sprintf("Count %d (%s)", sys.Count, n[2]))
		}
		fmt.Fprintf(w, "  zero fields use this system's values: %s\n", strings.Join(zero, ", "))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "peer dies, connection\tdetected after\tworst case\tcounted from")
	fmt.Fprintf(tw, "idle\t%s\t%s\tthe last segment received\n", m.idleText(), dur(time.Duration(m.Worst)))
	lo, hi := m.flightText(goos)
	fmt.Fprintf(tw, "data in flight\t%s\t%s\tthe write\n", lo, hi)
	lo, hi = m.zeroWindowText(goos)
	fmt.Fprintf(tw, "peer stops reading (zero window)\t%s\t%s\tthe first write the closed window holds back\n", lo, hi)
	tw.Flush()
	fmt.Fprintln(w)
	switch {
	case linux && c.UserTimeout > 0:
		fmt.Fprintln(w, "idle: Idle + k x Interval, k = max(1, ceil((UserTimeout - Idle) / Interval)); with UserTimeout set Linux ignores Count")
		fmt.Fprintln(w, "data in flight: UserTimeout after the write, checked when a retransmission timer fires (the worst case waits out one backed-off RTO)")
		fmt.Fprintln(w, "peer stops reading (zero window): UserTimeout after the window closed; nothing else ends it")
	case linux:
		fmt.Fprintln(w, "idle: Idle + Count x Interval")
		fmt.Fprintln(w, "data in flight: no UserTimeout, so the tcp_retries2 budget, counted from the write (keepalive plan --user-timeout D bounds it)")
		fmt.Fprintln(w, "peer stops reading (zero window): no UserTimeout, so never: the peer's kernel answers the window probes")
	case c.UserTimeout > 0:
		fmt.Fprintf(w, "idle and data in flight: the library's model for %s (keepalive.Detection)\n", goos)
	default:
		fmt.Fprintf(w, "idle: the library's model for %s (keepalive.Detection)\n", goos)
		fmt.Fprintln(w, "data in flight: no UserTimeout, so the system's retransmission limit (keepalive plan --user-timeout D bounds it)")
	}
	if linux {
		fmt.Fprintln(w, "worst case: plus the most the kernel's timer wheel can delay each timer")
	} else {
		fmt.Fprintln(w, "worst case: plus the most the kernel's timers can be late")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "In Go:")
	fmt.Fprintln(w)
	for line := range strings.SplitSeq(p.Go, "\n") {
		fmt.Fprintln(w, "\t"+line)
	}
}
