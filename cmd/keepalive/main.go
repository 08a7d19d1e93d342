// Command keepalive answers, on a shell, the questions of someone whose
// connection sat in ESTABLISHED long after its peer died: what do this
// system's settings mean, what should I set, does it work, and what do my
// live connections actually have.
//
//	keepalive defaults                          the system's settings and what they mean
//	keepalive plan --idle 10s --interval 5s --count 3 --user-timeout 25s
//	keepalive plan --within 30s --middlebox-idle 350s
//	keepalive demo                              a dead peer, live, on this machine
//	keepalive conns --port 5432 --pid 1234      keepalive state and holders of real connections (Linux)
//	keepalive why 10.0.0.5:5432 [--kill]        why a connection never ends, and ending it (Linux)
//
// Every number comes from the keepalive library's model (Config.Detection,
// Within, ReadSystem), so the command and the library cannot disagree. Output is an aligned table;
// --json prints the same for scripts. Exit status: 0 done, 1 failed, 2 bad
// usage or invalid input, 3 the demo was not permitted to silence its peer.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	// Before anything is read: a binary given capabilities (setcap) or
	// set-user-ID acts with its real user's rights only.
	if err := dropPrivileges(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "keepalive: %v\n", err)
		os.Exit(exitFail)
	}
	os.Exit(run(os.Stdout, os.Stderr, os.Args[1:]))
}

// Exit statuses.
const (
	exitOK      = 0
	exitFail    = 1
	exitUsage   = 2
	exitRefused = 3 // the kernel refused the demo's socket filter
)

type command struct {
	name    string
	summary string
	run     func(stdout, stderr io.Writer, args []string) int
}

// commands is filled in init to let the help command list them all.
var commands []command

func init() {
	commands = []command{
		{"defaults", "the system's keepalive and retransmission settings and what they mean", runDefaults},
		{"plan", "detection times for given values, or the Config for a deadline, and the Go code", runPlan},
		{"demo", "a local peer goes silent like a dead host: watch the probes and the verdict", runDemo},
		{"conns", "TCP connections of this host with their keepalive timers and holders (Linux)", runConns},
		{"why", "why a connection is still ESTABLISHED, when it will end, and --kill to end it (Linux)", runWhy},
	}
}

func run(stdout, stderr io.Writer, args []string) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 { // keepalive help plan
			return run(stdout, stderr, []string{args[1], "--help"})
		}
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(stdout, stderr, args[1:])
		}
	}
	fmt.Fprintf(stderr, "keepalive: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "keepalive: make dead TCP peers visible in seconds instead of hours.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: keepalive <command> [flags]   (keepalive <command> --help for its flags and an example)")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Start with: keepalive demo")
}

// cmdFlags is a subcommand's flag set and its --help text.
type cmdFlags struct {
	*flag.FlagSet
	help func()
}

// newFlags returns a flag set whose --help prints what the command does, an
// example and the flags, on stdout.
func newFlags(stdout io.Writer, name, synopsis, about, example string) *cmdFlags {
	fs := flag.NewFlagSet("keepalive "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse prints errors itself, on stderr
	fs.Usage = func() {}
	return &cmdFlags{fs, func() {
		fmt.Fprintf(stdout, "Usage: keepalive %s %s\n\n%s\n\nExample:\n%s\n\nFlags:\n", name, synopsis, about, example)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}}
}

// parse parses args and says whether to go on; if not, code is the exit
// status: 0 after --help, 2 after a bad flag (with the message on stderr).
func (fs *cmdFlags) parse(stderr io.Writer, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.help()
		return exitOK, false
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n(%s --help shows the flags)\n", fs.Name(), err, fs.Name())
		return exitUsage, false
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n(%s --help shows the flags)\n", fs.Name(), fs.Arg(0), fs.Name())
		return exitUsage, false
	}
	return exitOK, true
}

// fail prints err for command name and returns exit status 1.
func fail(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "keepalive %s: %v\n", name, err)
	return exitFail
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// seconds is a duration that goes to JSON as a number of seconds, the unit
// of the kernel's keepalive settings: 7875, 4.137.
type seconds time.Duration

func (s seconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(s).Seconds(), 'f', -1, 64), nil
}

// dur prints a duration for people, rounded to the millisecond: 2h11m15s,
// 4.137s, 0s.
func dur(d time.Duration) string {
	return d.Round(time.Millisecond).String()
}

// goDuration prints d as a Go expression: 10 * time.Second.
func goDuration(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "time.Hour"}, {time.Minute, "time.Minute"}, {time.Second, "time.Second"}, {time.Millisecond, "time.Millisecond"}} {
		if d%u.d == 0 {
			if d == u.d {
				return u.name
			}
			return fmt.Sprintf("%d * %s", d/u.d, u.name)
		}
	}
	return fmt.Sprintf("time.Duration(%d)", int64(d))
}

// goArg prints d as a Go function argument, formatted as gofmt would:
// 30*time.Second.
func goArg(d time.Duration) string { return strings.ReplaceAll(goDuration(d), " * ", "*") }

// secs prints a duration the way the kernel's settings count it, whole
// seconds when it is: 7200s, not 2h0m0s.
func secs(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return dur(d)
}

// oneLine joins lines of an error for a table cell.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
