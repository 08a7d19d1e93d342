// Command report reads `go test -bench` output and prints, as Markdown, the
// issue's targets (library against the standard library or the raw floor,
// ratio of medians from the same run) and every pairing's ratio, for
// BENCHMARKS.md. bench/run calls it; the full tables come from benchstat.
//
//	go run ./bench/report root.txt [peers.txt]
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: report root.txt [peers.txt]")
		os.Exit(2)
	}
	var runs []map[string]*bench
	for _, name := range os.Args[1:] {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		b, err := parse(f)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "report:", name+":", err)
			os.Exit(1)
		}
		runs = append(runs, b)
	}
	root := runs[0]
	var peers map[string]*bench
	if len(runs) > 1 {
		peers = runs[1]
	}
	complete, met := printTargets(os.Stdout, root, peers)
	switch {
	case !complete:
		os.Exit(3)
	case !met:
		os.Exit(4)
	}
}

// bench holds every sample of one benchmark (name without the -GOMAXPROCS
// suffix), by unit.
type bench struct {
	samples map[string][]float64 // "ns/op", "B/op", "allocs/op"
}

func (b *bench) median(unit string) (float64, bool) {
	if b == nil {
		return 0, false
	}
	v := slices.Clone(b.samples[unit])
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], true
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// parse reads benchmark result lines: "BenchmarkX/a=b-2  N  v unit  v unit ...".
func parse(r io.Reader) (map[string]*bench, error) {
	out := map[string]*bench{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := procSuffix.ReplaceAllString(f[0], "")
		b := out[name]
		if b == nil {
			b = &bench{samples: map[string][]float64{}}
			out[name] = b
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", sc.Text(), err)
			}
			b.samples[f[i+1]] = append(b.samples[f[i+1]], v)
		}
	}
	return out, sc.Err()
}

// target is one of the goals: lib's median over base's within
// limit, lib's allocations at most maxAllocs, or at most extraAllocs[what]
// more than base's. paired names the
// BenchmarkPaired sub-benchmark that measures the same ratio in alternating
// blocks, the figure the verdict uses when it is there.
type target struct {
	what      string
	lib, base string
	limit     float64 // ratio of median ns/op; 0: no time target
	maxAllocs float64 // -1: no allocation target
	paired    string
	// alsoPaired, for a pairing, names a BenchmarkPaired figure printed
	// beside the ratio of the separate benchmarks' medians.
	alsoPaired string
}

var targets = []target{
	{"Config.Dial vs net.Dialer{KeepAliveConfig} (4 options; at most 1 allocation more)", "BenchmarkDial/opts=4/impl=keepalive", "BenchmarkDial/opts=4/impl=std", 1.00, -1, "BenchmarkPaired/Dial/opts=4/vs=std", ""},
	{"Config.Dialer(nil).DialContext vs net.Dialer{KeepAliveConfig} (4 options)", "BenchmarkDial/opts=4/impl=keepalive-dialer", "BenchmarkDial/opts=4/impl=std", 1.02, -1, "BenchmarkPaired/Dialer/opts=4/vs=std", ""},
	{"Config.Listen accept vs net.ListenConfig{KeepAliveConfig} on plain TCP (4 options)", "BenchmarkAccept/opts=4/impl=keepalive", "BenchmarkAccept/opts=4/impl=std-tcp", 0.97, -1, "BenchmarkPaired/Accept/opts=4/vs=std-tcp", ""},
	{"Config.Listen accept vs net.ListenConfig{KeepAliveConfig}, Go's default Multipath TCP (4 options)", "BenchmarkAccept/opts=4/impl=keepalive", "BenchmarkAccept/opts=4/impl=std", 0.97, -1, "BenchmarkPaired/Accept/opts=4/vs=std", ""},
	// No time target since issue 11: Apply also refuses a Multipath TCP
	// socket, one getsockopt the standard library does not make (the
	// floor below makes it too).
	{"Apply vs (*net.TCPConn).SetKeepAliveConfig (4 options; Apply also checks for Multipath TCP)", "BenchmarkApply/opts=4/impl=keepalive", "BenchmarkApply/opts=4/impl=std", 0, 0, "BenchmarkPaired/Apply/opts=4/vs=std", ""},
	{"Apply vs raw floor (4 options)", "BenchmarkApply/opts=4/impl=keepalive", "BenchmarkApply/opts=4/impl=raw", 1.05, 0, "BenchmarkPaired/Apply/opts=4/vs=raw", ""},
	{"Inspect vs 5 raw getsockopt calls", "BenchmarkInspect/impl=keepalive", "BenchmarkInspect/impl=raw", 0, 0, "", ""},
	{"Apply vs raw floor (5 options, with UserTimeout)", "BenchmarkApply/opts=5/impl=keepalive", "BenchmarkApply/opts=5/impl=raw", 1.05, 0, "BenchmarkPaired/Apply/opts=5/vs=raw", ""},
	{"Control vs the floor's callback in RawConn.Control (4 options)", "BenchmarkControl/opts=4/impl=keepalive", "BenchmarkControl/opts=4/impl=raw", 0, 0, "BenchmarkPaired/Control/opts=4/vs=raw", ""},
	{"Control vs the floor's callback in RawConn.Control (5 options)", "BenchmarkControl/opts=5/impl=keepalive", "BenchmarkControl/opts=5/impl=raw", 0, 0, "", ""},
}

// extraAllocs bounds a target's allocations by its baseline's plus this
// many.
var extraAllocs = map[string]float64{
	"Config.Dial vs net.Dialer{KeepAliveConfig} (4 options; at most 1 allocation more)": 1,
}

// pairings are further ratios worth a line, without a target.
var pairings = []target{
	{"SetKeepAliveConfig vs raw floor (4 options)", "BenchmarkApply/opts=4/impl=std", "BenchmarkApply/opts=4/impl=raw", 0, -1, "", ""},
	{"Config.Dial with UserTimeout (5 options) vs net.Dialer (4 options)", "BenchmarkDial/opts=5/impl=keepalive", "BenchmarkDial/opts=4/impl=std", 0, -1, "", ""},
	{"Config.Listen with UserTimeout (5 options) vs net.ListenConfig on plain TCP (4 options)", "BenchmarkAccept/opts=5/impl=keepalive", "BenchmarkAccept/opts=4/impl=std-tcp", 0, -1, "", ""},
}

var peerPairings = []target{
	{"peers: Apply vs raw floor", "BenchmarkApply/impl=keepalive", "BenchmarkApply/impl=raw", 0, -1, "", ""},
	{"peers: Apply vs SetKeepAliveConfig", "BenchmarkApply/impl=keepalive", "BenchmarkApply/impl=std", 0, -1, "", ""},
	{"peers: mikioh/tcpopt (tcp.NewConn + 4 SetOption) vs Apply", "BenchmarkApply/impl=mikioh", "BenchmarkApply/impl=keepalive", 0, -1, "", ""},
	{"peers: mikioh/tcpopt (4 SetOption on a kept *tcp.Conn) vs Apply", "BenchmarkApply/impl=mikioh-reused", "BenchmarkApply/impl=keepalive", 0, -1, "", ""},
	{"peers, paired: Apply vs raw floor", "", "", 0, -1, "BenchmarkPaired/keepalive/vs=raw", ""},
	{"peers, paired: mikioh/tcpopt (tcp.NewConn + 4 SetOption) vs Apply", "", "", 0, -1, "BenchmarkPaired/mikioh/vs=keepalive", ""},
}

// printTargets prints the targets and the other ratios; it reports whether
// every benchmark and figure it needs was in the input, and whether every
// target was met.
func printTargets(w io.Writer, root, peers map[string]*bench) (complete, allMet bool) {
	complete, allMet = true, true
	fmt.Fprintln(w, "| target | library (median) | baseline (median) | ratio of medians | paired ratio (median) | limit | allocs/op (library) | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, t := range targets {
		lib, base := root[t.lib], root[t.base]
		if lib == nil || base == nil {
			fmt.Fprintf(w, "| %s | missing | | | | | | |\n", t.what)
			complete = false
			continue
		}
		l, lok := lib.median("ns/op")
		b, bok := base.median("ns/op")
		a, aok := lib.median("allocs/op")
		if !lok || !bok || !aok || b == 0 {
			// No figure is no evidence: never "met" by default.
			fmt.Fprintf(w, "| %s | missing ns/op or allocs/op (run with -benchmem or b.ReportAllocs) | | | | | | |\n", t.what)
			complete = false
			continue
		}
		ratio := l / b
		paired := "-"
		if t.paired != "" {
			p, ok := root[t.paired].median("ratio")
			if !ok {
				fmt.Fprintf(w, "| %s | missing %s | | | | | | |\n", t.what, t.paired)
				complete = false
				continue
			}
			ratio = p
			paired = fmt.Sprintf("%.3f", p)
		}
		met := true
		limit := "-"
		var why []string
		if t.limit > 0 {
			limit = fmt.Sprintf("%.2f", t.limit)
			if ratio > t.limit {
				met = false
				why = append(why, fmt.Sprintf("%.1f points over", (ratio-t.limit)*100))
			}
		}
		allocs := fmt.Sprintf("%.0f", a)
		if t.maxAllocs >= 0 {
			allocs += fmt.Sprintf(" (limit %.0f)", t.maxAllocs)
			if a > t.maxAllocs {
				met = false
				why = append(why, "allocates")
			}
		}
		if extra, ok := extraAllocs[t.what]; ok {
			ba, _ := base.median("allocs/op")
			allocs += fmt.Sprintf(" (limit %.0f: baseline's %.0f + %.0f)", ba+extra, ba, extra)
			if a > ba+extra {
				met = false
				why = append(why, "allocates more than the baseline allows")
			}
		}
		verdict := "yes"
		if !met {
			verdict = "**no**: " + strings.Join(why, ", ")
			allMet = false
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.3f | %s | %s | %s | %s |\n", t.what, ns(l), ns(b), l/b, paired, limit, allocs, verdict)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| pairing | first (median) | second (median) | ratio | allocs/op first / second |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	all := []struct {
		set map[string]*bench
		ts  []target
	}{{root, pairings}, {peers, peerPairings}}
	for _, group := range all {
		if group.set == nil {
			continue
		}
		for _, t := range group.ts {
			if t.paired != "" {
				p, ok := group.set[t.paired].median("ratio")
				if !ok {
					fmt.Fprintf(w, "| %s | missing | | | |\n", t.what)
					complete = false
					continue
				}
				fmt.Fprintf(w, "| %s | | | %.3f (paired blocks) | |\n", t.what, p)
				continue
			}
			lib, base := group.set[t.lib], group.set[t.base]
			if lib == nil || base == nil {
				fmt.Fprintf(w, "| %s | missing | | | |\n", t.what)
				complete = false
				continue
			}
			l, _ := lib.median("ns/op")
			b, _ := base.median("ns/op")
			la, _ := lib.median("allocs/op")
			ba, _ := base.median("allocs/op")
			ratio := fmt.Sprintf("%.3f", l/b)
			if t.alsoPaired != "" {
				// The paired figure is the one to trust on a shared CPU.
				if p, ok := group.set[t.alsoPaired].median("ratio"); ok {
					ratio += fmt.Sprintf("; paired %.3f", p)
				}
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %.0f / %.0f |\n", t.what, ns(l), ns(b), ratio, la, ba)
		}
	}
	return complete, allMet
}

func ns(v float64) string {
	if v >= 10000 {
		return fmt.Sprintf("%.2f µs", v/1000)
	}
	return fmt.Sprintf("%.0f ns", v)
}
