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

const defaultsAbout = `Prints the keepalive and retransmission settings a TCP socket gets when it
sets none (the sysctls of this network namespace), and what they mean: how
long until a dead peer is noticed on an idle connection and on one with data
in flight, and with Go's default dialer.`

const defaultsExample = `  keepalive defaults
  keepalive defaults --json | jq .idle.idle_model_s`

// goDefault is the keepalive Go's net package applies to every dialed and
// accepted connection unless told otherwise: 15 s, 15 s, 9.
func goDefault() keepalive.Config {
	c, _ := keepalive.FromNetConfig(net.KeepAliveConfig{Enable: true})
	return c
}

// settingNames names the system settings SystemDefaults and
// SystemRetransmission read: Linux's sysctls, or plain words elsewhere.
func settingNames() [5]string {
	if runtime.GOOS == "linux" {
		return [5]string{"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
			"net.ipv4.tcp_retries2", "net.ipv4.tcp_rto_max_ms (120s where absent)"}
	}
	return [5]string{"keepalive idle", "keepalive interval", "keepalive probes", "retransmissions", "max retransmission timeout"}
}

type defaultsJSON struct {
	System         jsonConfig `json:"system"` // SystemDefaults
	Retries2       int        `json:"tcp_retries2"`
	RTOMax         seconds    `json:"tcp_rto_max_s"`
	Idle           model      `json:"idle"`            // SO_KEEPALIVE on with the system's values
	GoDefault      jsonConfig `json:"go_default"`      // net.Dialer{} and net.Listen
	GoDefaultModel model      `json:"go_default_idle"` // its detection times
}

func runDefaults(stdout, stderr io.Writer, args []string) int {
	fs := newFlags(stdout, "defaults", "[--json]", defaultsAbout, defaultsExample)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if code, ok := fs.parse(stderr, args); !ok {
		return code
	}
	sys, err := keepalive.SystemDefaults()
	if err != nil {
		return fail(stderr, "defaults", err)
	}
	rt, err := keepalive.SystemRetransmission()
	if err != nil {
		return fail(stderr, "defaults", err)
	}
	// The model fills zero fields from SystemDefaults itself; passing sys
	// keeps one reading for the table and the numbers.
	idle := predict(sys)
	goCfg := goDefault()
	goModel := predict(goCfg)
	if *asJSON {
		if err := writeJSON(stdout, defaultsJSON{toJSON(sys), rt.Retries2, seconds(rt.RTOMax), idle, toJSON(goCfg), goModel}); err != nil {
			return fail(stderr, "defaults", err)
		}
		return exitOK
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(stdout, "The settings a TCP socket gets when it sets none (on Linux, the sysctls of this network namespace):")
	fmt.Fprintln(stdout)
	n := settingNames()
	fmt.Fprintln(tw, "setting\tvalue\tmeaning")
	fmt.Fprintf(tw, "%s\t%s\tidle time before the first keepalive probe\n", n[0], secs(sys.Idle))
	fmt.Fprintf(tw, "%s\t%s\ttime between unanswered probes\n", n[1], secs(sys.Interval))
	fmt.Fprintf(tw, "%s\t%d\tunanswered probes before the peer is declared dead\n", n[2], sys.Count)
	fmt.Fprintf(tw, "%s\t%d\tretransmissions of unacknowledged data before giving up\n", n[3], rt.Retries2)
	fmt.Fprintf(tw, "%s\t%s\tlongest wait between two retransmissions\n", n[4], dur(rt.RTOMax))
	tw.Flush()

	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "What that means when the peer dies (host down, cable pulled, NAT forgot the flow):")
	fmt.Fprintln(stdout)
	fmt.Fprintln(tw, "connection\tdetected after\tworst case\tcounted from")
	fmt.Fprintln(tw, "idle, SO_KEEPALIVE off (a socket's default)\tnever\tnever\t")
	fmt.Fprintf(tw, "idle, SO_KEEPALIVE on, these settings\t%s\t%s\tthe last segment received\n",
		idle.idleText(), dur(time.Duration(idle.Worst)))
	fmt.Fprintf(tw, "idle, Go's net.Dialer{} (%s/%s/%d)\t%s\t%s\tthe last segment received\n",
		goCfg.Idle, goCfg.Interval, goCfg.Count, goModel.idleText(), dur(time.Duration(goModel.Worst)))
	fmt.Fprintf(tw, "data in flight, no TCP_USER_TIMEOUT\t%s\t%s\tthe first retransmission (200ms or more after the write)\n",
		dur(time.Duration(idle.FlightLo)), dur(time.Duration(idle.FlightHi)))
	tw.Flush()
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "For a deadline of your own: keepalive plan --within 30s")
	return exitOK
}
