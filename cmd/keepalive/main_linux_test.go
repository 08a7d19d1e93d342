package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// bin is the command, built once by TestMain: the tests run the real
// binary, as a person would.
var bin string

// Environment of the processes the tests start from this test binary:
// envBin hands the built command to re-runs in a network namespace
// (keepalivetest.InNetNS), envHelper makes the binary play a helper process.
const (
	envBin    = "KEEPALIVE_CMD_TEST_BIN"
	envHelper = "KEEPALIVE_CMD_TEST_HELPER"
)

func TestMain(m *testing.M) {
	if h := os.Getenv(envHelper); h != "" {
		os.Exit(runHelper(h))
	}
	if bin = os.Getenv(envBin); bin != "" {
		code := m.Run()
		removeNobodyCopy()
		os.Exit(code)
	}
	dir, err := os.MkdirTemp("", "keepalive-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "keepalive")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the command: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	os.Setenv(envBin, bin)
	code := m.Run()
	removeNobodyCopy()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The copy of bin that uid 65534 can run (why_test.go), made once.
var (
	nobodyOnce sync.Once
	nobodyBin  string
	nobodyErr  error
)

func removeNobodyCopy() {
	for _, b := range []string{nobodyBin, cappedBin} {
		if b != "" {
			os.RemoveAll(filepath.Dir(b))
		}
	}
}

type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// keepaliveCmd runs the command with args, for at most a minute.
func keepaliveCmd(t *testing.T, args ...string) result {
	t.Helper()
	return keepaliveCmdIn(t, "", args...)
}

// keepaliveCmdIn runs the command with stdin as its input.
func keepaliveCmdIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A race-detector build sleeps 1s at exit by default; a race found
	// still fails the run (exit status 66).
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	start := time.Now()
	err := cmd.Run()
	r := result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode(), time.Since(start)}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("keepalive %s: %v", strings.Join(args, " "), err)
	}
	require.NoError(t, ctx.Err(), "keepalive %s did not finish within a minute", strings.Join(args, " "))
	return r
}

func decode[T any](t *testing.T, r result) T {
	t.Helper()
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	var v T
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &v), r.stdout)
	return v
}

// Mirrors of the JSON output, decoded independently of the command's types
// where it matters: durations as float seconds.
type modelOut struct {
	Idle      float64 `json:"idle_model_s"`
	Earliest  float64 `json:"idle_earliest_s"`
	Worst     float64 `json:"idle_worst_case_s"`
	FlightLo  float64 `json:"in_flight_min_s"`
	FlightHi  float64 `json:"in_flight_max_s"`
	ZeroLo    float64 `json:"zero_window_min_s"`
	ZeroHi    float64 `json:"zero_window_max_s"`
	ZeroNever bool    `json:"zero_window_never"`
}

type configOut struct {
	Idle        float64 `json:"idle_s"`
	Interval    float64 `json:"interval_s"`
	Count       int     `json:"count"`
	UserTimeout float64 `json:"user_timeout_s"`
}

func (c configOut) config() keepalive.Config {
	s := func(f float64) time.Duration { return time.Duration(math.Round(f * float64(time.Second))) }
	return keepalive.Config{Idle: s(c.Idle), Interval: s(c.Interval), Count: c.Count, UserTimeout: s(c.UserTimeout)}
}

// libraryModel is what the library says for c on this host, computed here.
func libraryModel(t *testing.T, c keepalive.Config) modelOut {
	d := detect(t, c)
	m := modelOut{Idle: d.Idle.Seconds(), Earliest: d.IdleMin.Seconds(), Worst: d.IdleMax.Seconds(), FlightLo: d.InFlightMin.Seconds(), FlightHi: d.InFlightMax.Seconds()}
	if d.ZeroWindowMax == keepalive.Never {
		m.ZeroNever = true
	} else {
		m.ZeroLo, m.ZeroHi = d.ZeroWindowMin.Seconds(), d.ZeroWindowMax.Seconds()
	}
	return m
}

// detect is the library's Detection for c with this host's System.
func detect(t *testing.T, c keepalive.Config) keepalive.Detection {
	t.Helper()
	d, err := c.Detection(hostSys(t))
	require.NoError(t, err)
	return d
}

func hostSys(t *testing.T) keepalive.System {
	t.Helper()
	sys, err := keepalive.ReadSystem()
	require.NoError(t, err)
	return sys
}

func TestHelp(t *testing.T) {
	t.Parallel()
	r := keepaliveCmd(t, "--help")
	assert.Equal(t, 0, r.code)
	for _, sub := range []string{"defaults", "plan", "demo", "conns", "why"} {
		assert.Contains(t, r.stdout, "  "+sub+" ", "the command list")
		for _, args := range [][]string{{sub, "--help"}, {sub, "-h"}, {"help", sub}} {
			r := keepaliveCmd(t, args...)
			assert.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
			assert.Contains(t, r.stdout, "Usage: keepalive "+sub, args)
			assert.Contains(t, r.stdout, "Example:\n  keepalive "+sub, args)
			assert.Empty(t, r.stderr, args)
		}
	}
	r = keepaliveCmd(t)
	assert.Equal(t, 2, r.code, "no command")
	assert.Contains(t, r.stderr, "Usage: keepalive <command>")
	r = keepaliveCmd(t, "frobnicate")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, `unknown command "frobnicate"`)
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	rt := hostSys(t)
	sys := keepaliveValues(rt)
	goCfg, _ := keepalive.FromNetConfig(net.KeepAliveConfig{Enable: true})

	out := decode[struct {
		System    configOut `json:"system"`
		Retries2  int       `json:"tcp_retries2"`
		RTOMax    float64   `json:"tcp_rto_max_s"`
		Idle      modelOut  `json:"idle"`
		GoDefault configOut `json:"go_default"`
		GoModel   modelOut  `json:"go_default_idle"`
	}](t, keepaliveCmd(t, "defaults", "--json"))
	assert.Equal(t, sys, out.System.config())
	assert.Equal(t, rt.Retries2, out.Retries2)
	assert.Equal(t, rt.RTOMax.Seconds(), out.RTOMax)
	assert.Equal(t, libraryModel(t, sys), out.Idle)
	assert.Equal(t, goCfg, out.GoDefault.config())
	assert.Equal(t, libraryModel(t, goCfg), out.GoModel)

	r := keepaliveCmd(t, "defaults")
	require.Equal(t, 0, r.code, r.stderr)
	d := detect(t, sys)
	lo, hi := d.InFlightMin, d.InFlightMax
	for _, want := range []string{
		"SO_KEEPALIVE off (a socket's default)  never",
		"  " + d.Idle.String() + "  ",
		"  " + detect(t, goCfg).Idle.String() + "  ",
	} {
		assert.Contains(t, r.stdout, want)
	}
	assert.Regexp(t, fmt.Sprintf(`net\.ipv4\.tcp_keepalive_time +%ds `, int(sys.Idle.Seconds())), r.stdout)
	assert.Regexp(t, fmt.Sprintf(`net\.ipv4\.tcp_keepalive_intvl +%ds `, int(sys.Interval.Seconds())), r.stdout)
	assert.Regexp(t, fmt.Sprintf(`net\.ipv4\.tcp_keepalive_probes +%d `, sys.Count), r.stdout)
	assert.Regexp(t, fmt.Sprintf(`net\.ipv4\.tcp_retries2 +%d `, rt.Retries2), r.stdout)
	assert.Regexp(t, `data in flight, no user timeout +`+regexp.QuoteMeta(dur(lo))+` +`+regexp.QuoteMeta(dur(hi))+` `, r.stdout)
}

func TestPlanValues(t *testing.T) {
	t.Parallel()
	sys := keepaliveValues(hostSys(t))
	for _, c := range []keepalive.Config{
		{Idle: 2 * time.Second, Interval: time.Second, Count: 3},
		{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3, UserTimeout: 25 * time.Second},
		{Idle: time.Second, Interval: time.Second, UserTimeout: 2010 * time.Millisecond}, // earliest differs from the model
		{Count: 3}, // zero fields: the system's
		{Idle: 1500 * time.Millisecond, Count: 1}, // rounded up to 2s
		{UserTimeout: 30 * time.Second},
	} {
		t.Run(configString(c), func(t *testing.T) {
			var args []string
			if c.Idle != 0 {
				args = append(args, "--idle", c.Idle.String())
			}
			if c.Interval != 0 {
				args = append(args, "--interval", c.Interval.String())
			}
			if c.Count != 0 {
				args = append(args, "--count", strconv.Itoa(c.Count))
			}
			if c.UserTimeout != 0 {
				args = append(args, "--user-timeout", c.UserTimeout.String())
			}
			out := decode[struct {
				Config configOut  `json:"config"`
				System *configOut `json:"system_defaults"`
				Model  modelOut   `json:"model"`
				Go     string     `json:"go"`
			}](t, keepaliveCmd(t, append([]string{"plan", "--json"}, args...)...))
			assert.Equal(t, c, out.Config.config())
			assert.Equal(t, libraryModel(t, c), out.Model)
			if c.Idle == 0 || c.Interval == 0 || c.Count == 0 {
				require.NotNil(t, out.System)
				assert.Equal(t, sys, out.System.config())
			} else {
				assert.Nil(t, out.System)
			}
			assert.Contains(t, out.Go, "cfg := keepalive.Config{")

			r := keepaliveCmd(t, append([]string{"plan"}, args...)...)
			require.Equal(t, 0, r.code, r.stderr)
			d := detect(t, c)
			assert.Regexp(t, `\nidle +`+regexp.QuoteMeta(dur(d.Idle)), r.stdout)
			assert.Contains(t, r.stdout, dur(d.IdleMax))
			assert.Regexp(t, `\ndata in flight +`+regexp.QuoteMeta(dur(d.InFlightMin))+` +`+regexp.QuoteMeta(dur(d.InFlightMax))+` +the write\n`, r.stdout)
			assert.NotContains(t, r.stdout, "first retransmission")
			if c.UserTimeout == 0 {
				assert.Equal(t, keepalive.Never, d.ZeroWindowMax)
				assert.Regexp(t, `\npeer stops reading \(zero window\) +never +never `, r.stdout)
			} else {
				assert.Regexp(t, `\npeer stops reading \(zero window\) +`+regexp.QuoteMeta(dur(d.ZeroWindowMin))+` +`+regexp.QuoteMeta(dur(d.ZeroWindowMax))+` `, r.stdout)
			}
			if d.IdleMin != d.Idle {
				assert.Contains(t, r.stdout, "(earliest "+dur(d.IdleMin)+")")
			}
		})
	}
}

func TestPlanGoCode(t *testing.T) {
	t.Parallel()
	r := keepaliveCmd(t, "plan", "--idle", "10s", "--interval", "5s", "--count", "3", "--user-timeout", "1m30s")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "\tcfg := keepalive.Config{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3, UserTimeout: 90 * time.Second}\n")
	assert.Contains(t, r.stdout, "\tconn, err := cfg.Dial(ctx, \"tcp\", addr)")
}

func TestPlanWithin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ deadline, middlebox time.Duration }{
		{30 * time.Second, 350 * time.Second},
		{10 * time.Second, 0},
		{10 * time.Minute, 240 * time.Second},
		{8 * time.Second, 0},
	} {
		t.Run(fmt.Sprint(tc.deadline, tc.middlebox), func(t *testing.T) {
			want, err := keepalive.Within(tc.deadline, tc.middlebox)
			require.NoError(t, err)
			args := []string{"plan", "--within", tc.deadline.String()}
			if tc.middlebox != 0 {
				args = append(args, "--middlebox-idle", tc.middlebox.String())
			}
			out := decode[struct {
				Within struct {
					Deadline      float64 `json:"deadline_s"`
					MiddleboxIdle float64 `json:"middlebox_idle_s"`
				} `json:"within"`
				Config configOut `json:"config"`
				Model  modelOut  `json:"model"`
				Go     string    `json:"go"`
			}](t, keepaliveCmd(t, append(args, "--json")...))
			assert.Equal(t, want, out.Config.config())
			assert.Equal(t, libraryModel(t, want), out.Model)
			assert.Equal(t, tc.deadline.Seconds(), out.Within.Deadline)
			assert.Contains(t, out.Go, "cfg, err := keepalive.Within(")

			r := keepaliveCmd(t, args...)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stdout, "picks "+configString(want))
			assert.Contains(t, r.stdout, "at worst "+dur(detect(t, want).IdleMax)+": within "+dur(tc.deadline))
		})
	}
}

func TestPlanInvalidInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []string // in the message
	}{
		{[]string{"--count", "500"}, []string{"--count: ", "Count 500 outside 1..127"}},
		{[]string{"--count", "-1"}, []string{"--count: ", "1..127"}},
		{[]string{"--idle", "10h"}, []string{"--idle: ", "Idle 10h0m0s outside 1s..32767s"}},
		{[]string{"--interval", "-1s"}, []string{"--interval: ", "outside 1s..32767s"}},
		{[]string{"--idle", "5s", "--user-timeout", "-1ms"}, []string{"--user-timeout: ", "outside 0.."}},
		{[]string{"--idle", "ten"}, []string{`invalid value "ten" for flag -idle`}},
		{[]string{"--within", "1s"}, []string{"--within: ", "the shortest is about 7.7s"}},
		{[]string{"--within", "-5s"}, []string{"--within -5s", "must be positive"}},
		{[]string{"--within", "30s", "--middlebox-idle", "1s"}, []string{"--middlebox-idle: ", "too short"}},
		{[]string{"--within", "30s", "--middlebox-idle", "-1s"}, []string{"--middlebox-idle -1s"}},
		// The deadline alone cannot be met: --within is at fault, not the middlebox.
		{[]string{"--within", "1s", "--middlebox-idle", "1s"}, []string{"--within: ", "the shortest is about"}},
		{[]string{"--within", "30s", "--count", "3"}, []string{"either --within or"}},
		{[]string{"--middlebox-idle", "350s"}, []string{"--middlebox-idle goes with --within"}},
		{nil, []string{"nothing to plan"}},
		{[]string{"--count", "3", "extra"}, []string{`unexpected argument "extra"`}},
		{[]string{"--nope"}, []string{"flag provided but not defined: -nope"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := keepaliveCmd(t, append([]string{"plan"}, tc.args...)...)
			assert.Equal(t, 2, r.code)
			assert.Empty(t, r.stdout)
			for _, w := range tc.want {
				assert.Contains(t, r.stderr, w)
			}
		})
	}
}

type demoOut struct {
	Waited      float64 `json:"waited_s"`
	Connections []struct {
		Name      string    `json:"name"`
		Config    configOut `json:"config"`
		Predicted float64   `json:"predicted_s"`
		Worst     float64   `json:"worst_case_s"`
		Outcome   string    `json:"outcome"`
		Cause     string    `json:"cause"`
		Measured  float64   `json:"measured_s"`
		Probes    int       `json:"probes_sent"`
		Error     string    `json:"error"`
		Errno     string    `json:"errno"`
	} `json:"connections"`
}

// sched is how late a blocked read may wake up after the kernel has failed
// the connection, on a busy 2-core machine.
const sched = 250 * time.Millisecond

func TestDemo(t *testing.T) {
	t.Parallel()
	cfg := keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 2}
	sys := keepaliveValues(hostSys(t))
	goCfg, _ := keepalive.FromNetConfig(net.KeepAliveConfig{Enable: true})
	d := detect(t, cfg)
	bound := d.IdleMax + time.Second

	r := keepaliveCmd(t, "demo", "--idle", "1s", "--interval", "1s", "--count", "2", "--json")
	skipIfRefused(t, r)
	out := decode[demoOut](t, r)
	assert.Less(t, r.took, bound+3*time.Second, "the demo waits for the Config's worst case + 1s, then stops")
	assert.Equal(t, bound.Seconds(), out.Waited)
	require.Len(t, out.Connections, 3)

	for i, want := range []keepalive.Config{goCfg, sys} {
		c := out.Connections[i]
		assert.Equal(t, want, c.Config.config(), c.Name)
		assert.Equal(t, detect(t, want).Idle.Seconds(), c.Predicted, c.Name)
		assert.Equal(t, "ESTABLISHED", c.Outcome, "%s: still hanging when the Config's connection is done", c.Name)
		assert.GreaterOrEqual(t, c.Measured, bound.Seconds(), c.Name)
	}
	mine := out.Connections[2]
	assert.Equal(t, "keepalive.Config{Idle: 1s, Interval: 1s, Count: 2}", mine.Name)
	assert.Equal(t, d.Idle.Seconds(), mine.Predicted)
	assert.Equal(t, d.IdleMax.Seconds(), mine.Worst)
	assert.Equal(t, "dead", mine.Outcome, "judged from the socket's state: the kernel closed it")
	assert.Equal(t, "keepalive timeout", mine.Cause, "keepalive.CauseOf's word")
	assert.Equal(t, "ETIMEDOUT", mine.Errno, "the real error, printed: a silenced peer on loopback gives ETIMEDOUT")
	assert.Contains(t, mine.Error, "connection timed out")
	assert.Equal(t, cfg.Count, mine.Probes, "tcpi_probes when the connection failed")
	assert.GreaterOrEqual(t, mine.Measured, (d.IdleMin - 10*time.Millisecond).Seconds())
	assert.LessOrEqual(t, mine.Measured, (d.IdleMax + sched).Seconds())
	t.Logf("Config %+v: predicted %v, worst case %v, measured %.3fs", cfg, d.Idle, d.IdleMax, mine.Measured)
}

// TestDemoLive checks the progress lines as a log or a pipe gets them: plain
// lines, one per probe, no terminal redraw.
func TestDemoLive(t *testing.T) {
	t.Parallel()
	cfg := keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 3, UserTimeout: 2500 * time.Millisecond}
	r := keepaliveCmd(t, "demo", "--idle", "1s", "--interval", "1s", "--user-timeout", "2.5s") // --count 3 by default
	skipIfRefused(t, r)
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "\x1b", "no escape sequences into a pipe")
	assert.NotContains(t, r.stdout, "\r")
	name := "keepalive.Config{Idle: 1s, Interval: 1s, Count: 3, UserTimeout: 2.5s}"
	assert.Contains(t, r.stdout, name+": peer silent; predicted dead after "+dur(detect(t, cfg).Idle))
	for k := 1; k <= 2; k++ { // k = max(1, ceil((2.5s - 1s) / 1s)) probes
		assert.Contains(t, r.stdout, fmt.Sprintf("%s: %d keepalive probe(s) unanswered (tcpi_probes %d,", name, k, k))
	}
	assert.Contains(t, r.stdout, name+": declared dead (keepalive timeout): read failed with ETIMEDOUT (read tcp4 ", "the library's cause, then the error")
	assert.Contains(t, r.stdout, "Go's net.Dialer{}: still ESTABLISHED after ")
	assert.Contains(t, r.stdout, "keepalive.Config{} (OS defaults): still ESTABLISHED after ")
	t.Log("\n" + r.stdout)
}

// skipIfRefused skips a demo test (failing it under CI) where the kernel
// refused the demo both its socket filter and a user namespace: the
// demo cannot run here.
func skipIfRefused(t *testing.T, r result) {
	t.Helper()
	if r.code == exitRefused {
		testkit.Skip(t, "skipping: the demo was not permitted to silence its peer here:\n"+r.stderr)
	}
}

// TestDemoRootless runs the demo as a user without capabilities (uid
// 65534 when the test runs as root, else the test's own user), with no
// flags beyond the Config: the kernel refuses its socket filter, and the
// demo runs itself again in a user and network namespace of its own
// (keepalivetest.Rerun), where the peer goes silent and the Config's
// connection is declared dead.
func TestDemoRootless(t *testing.T) {
	t.Parallel()
	args := []string{"demo", "--idle", "1s", "--interval", "1s", "--count", "1", "--user-timeout", "1.5s", "--json"}
	cmd := exec.Command(bin, args...)
	as := "uid " + strconv.Itoa(os.Geteuid())
	if os.Geteuid() == 0 {
		// bin's directory is private to root: nobody runs a copy.
		dir, err := os.MkdirTemp("", "keepalive-nobody-")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		require.NoError(t, os.Chmod(dir, 0o755))
		exe, err := os.ReadFile(bin)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "keepalive"), exe, 0o755))
		cmd = exec.Command(filepath.Join(dir, "keepalive"), args...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
		as = "uid 65534 (nobody)"
	}
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	r := runCmd(t, cmd)
	if r.code == exitRefused {
		testkit.Skip(t, "skipping: this kernel refuses "+as+" a user namespace:\n"+r.stderr)
	}
	require.Equal(t, 0, r.code, "as %s: %s", as, r.stderr)
	out := decode[demoOut](t, r)
	require.Len(t, out.Connections, 3)
	assert.Equal(t, "dead", out.Connections[2].Outcome, "as %s", as)
	assert.Equal(t, "keepalive timeout", out.Connections[2].Cause)
	t.Logf("as %s: %+v", as, out.Connections[2])
}

func TestDemoInvalidInput(t *testing.T) {
	t.Parallel()
	r := keepaliveCmd(t, "demo", "--interval", "40000s")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "--interval: ")
	assert.Contains(t, r.stderr, "outside 1s..32767s")

	// Bounded: a Config the demo would wait hours for is refused up front.
	for _, args := range [][]string{
		{"--idle", "2h"},
		{"--interval", "400s"}, // 2s + 3 x 400s
		{"--idle", "5s", "--max-wait", "5s"},
	} {
		r := keepaliveCmd(t, append([]string{"demo"}, args...)...)
		assert.Equal(t, 2, r.code, args)
		assert.Less(t, r.took, 10*time.Second, "%v: refused, not waited for", args)
		assert.Contains(t, r.stderr, "beyond --max-wait ", args)
		assert.Empty(t, r.stdout, args)
	}
	r = keepaliveCmd(t, "demo", "--max-wait", "0s")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "--max-wait 0s: must be positive")
}

type connOut struct {
	State     string     `json:"state"`
	Local     string     `json:"local"`
	Remote    string     `json:"remote"`
	Keepalive string     `json:"keepalive"`
	Timer     string     `json:"timer"`
	TimerIn   float64    `json:"timer_in_s"`
	Probes    int        `json:"probes"`
	FD        *int       `json:"fd"`
	Options   *configOut `json:"options"`
	Detection *modelOut  `json:"detection"`
	Error     string     `json:"options_error"`
}

type connsOut struct {
	Connections []connOut `json:"connections"`
	Notes       []string  `json:"notes"`
}

func find(t *testing.T, conns []connOut, local, remote string) connOut {
	t.Helper()
	for _, c := range conns {
		if c.Local == local && c.Remote == remote {
			return c
		}
	}
	t.Fatalf("no connection %s -> %s in %+v", local, remote, conns)
	return connOut{}
}

// TestConns opens connections, one end with a Config applied, and finds
// them with the command: the keepalive timer from sock_diag, the options
// from the sockets themselves (--pid of this test process).
func TestConns(t *testing.T) {
	t.Parallel()
	cfg := keepalive.Config{Idle: 37 * time.Second, Interval: 11 * time.Second, Count: 4, UserTimeout: 53 * time.Second}
	sys := keepaliveValues(hostSys(t))
	for _, lb := range testkit.Loopbacks(t) {
		t.Run(lb.Network, func(t *testing.T) {
			client, server := testkit.Pair(t, lb, nil, cfg.Dial)
			port := strconv.Itoa(client.LocalAddr().(*net.TCPAddr).Port)
			local, remote := client.LocalAddr().String(), client.RemoteAddr().String()

			out := decode[connsOut](t, keepaliveCmd(t, "conns", "--port", port, "--state", "established", "--pid", strconv.Itoa(os.Getpid()), "--json"))
			if len(out.Connections) > 0 && strings.Contains(out.Connections[0].Error, "operation not permitted") {
				testkit.Skip(t, "skipping: no ptrace access to this process for pidfd_getfd: "+out.Connections[0].Error)
			}
			require.Len(t, out.Connections, 2, "both ends, in this process, on port %s", port)
			c := find(t, out.Connections, local, remote)
			assert.Equal(t, "established", c.State)
			assert.Equal(t, "on", c.Keepalive)
			assert.Empty(t, c.Error)
			require.NotNil(t, c.Options)
			assert.Equal(t, cfg, c.Options.config(), "the options read back through pidfd_getfd")
			require.NotNil(t, c.Detection)
			assert.Equal(t, libraryModel(t, cfg), *c.Detection)
			assert.Equal(t, "keepalive", c.Timer, "sock_diag's idiag_timer")
			assert.Greater(t, c.TimerIn, 0.0)
			assert.LessOrEqual(t, c.TimerIn, cfg.Idle.Seconds())
			assert.Equal(t, 0, c.Probes)
			require.NotNil(t, c.FD)

			s := find(t, out.Connections, server.LocalAddr().String(), server.RemoteAddr().String())
			assert.Equal(t, "off", s.Keepalive, "accepted with KeepAlive: -1")
			assert.Equal(t, "none", s.Timer)
			require.NotNil(t, s.Options)
			assert.Equal(t, sys, s.Options.config(), "never set: the system's values")
			assert.Nil(t, s.Detection)

			// Without --pid: the timer alone tells keepalive is on.
			out = decode[connsOut](t, keepaliveCmd(t, "conns", "--port", port, "--json"))
			c = find(t, out.Connections, local, remote)
			assert.Equal(t, "on", c.Keepalive)
			assert.Equal(t, "keepalive", c.Timer)
			assert.Nil(t, c.Options)
			assert.Equal(t, "off", find(t, out.Connections, server.LocalAddr().String(), server.RemoteAddr().String()).Keepalive)
			assert.NotEmpty(t, out.Notes, "says that --pid reads the options")

			// For people.
			r := keepaliveCmd(t, "conns", "--port", port, "--pid", strconv.Itoa(os.Getpid()))
			require.Equal(t, 0, r.code, r.stderr)
			assert.Regexp(t, `established +`+regexp.QuoteMeta(local)+` +`+regexp.QuoteMeta(remote)+` +on +keepalive \d+(\.\d+)?s +0 +0 +0 +\d+ +37s +11s +4 +53s +`+
				regexp.QuoteMeta(dur(detect(t, cfg).Idle)), r.stdout)
			assert.Contains(t, r.stdout, "never (SO_KEEPALIVE off)")
			assert.Contains(t, r.stdout, "2 connection(s)")
		})
	}
}

func TestConnsInvalidInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--state", "sleeping"}, 2, `--state "sleeping": not a TCP state; one of established, syn-sent`},
		{[]string{"--port", "70000"}, 2, "--port 70000 outside 1..65535"},
		{[]string{"--pid", "-3"}, 2, "--pid -3"},
		{[]string{"--pid", "4194305"}, 1, "--pid 4194305: no such process"}, // above PID_MAX_LIMIT
		{[]string{"--netns", "01"}, 2, `--netns "01": a process ID is written without a sign or leading zeros (1)`},
	} {
		r := keepaliveCmd(t, append([]string{"conns"}, tc.args...)...)
		assert.Equal(t, tc.code, r.code, tc.args)
		assert.Contains(t, r.stderr, tc.want, tc.args)
	}
}

// TestDemoTerminal runs the demo on a pseudo-terminal, where it redraws one
// line per connection in place.
func TestDemoTerminal(t *testing.T) {
	t.Parallel()
	master, slave := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo", "--idle", "1s", "--interval", "1s", "--count", "1")
	cmd.Stdout, cmd.Stderr = slave, slave
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	require.NoError(t, cmd.Start())
	slave.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() { out.ReadFrom(master); close(copied) }() // ends with EIO once the command has exited
	err := cmd.Wait()
	select {
	case <-copied:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal output did not end")
	}
	s := out.String()
	skipIfRefused(t, result{stderr: s, code: cmd.ProcessState.ExitCode()})
	require.NoError(t, err, s)
	assert.Contains(t, s, "\x1b[3A", "moves up over the 3 progress lines to redraw them")
	assert.Contains(t, s, "\r\x1b[Kkeepalive.Config{Idle: 1s, Interval: 1s, Count: 1}")
	assert.Regexp(t, `keepalive\.Config\{Idle: 1s, Interval: 1s, Count: 1\} +\d+\.\d+s +probes sent 1 +predicted dead at 2s +declared dead \(keepalive timeout, ETIMEDOUT\)`, s)
	assert.Regexp(t, `keepalive\.Config\{\} \(OS defaults\) +\d+(\.\d+)?s +probes sent 0 +predicted dead at .* +still ESTABLISHED, stopped waiting`, s)
	assert.Contains(t, s, "measured")
}

// openPTY opens a new pseudo-terminal: the master end to read what the
// command prints, the slave end for its stdout.
func openPTY(t *testing.T) (master, slave *os.File) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		testkit.Skip(t, "skipping: no pseudo-terminals here: "+err.Error())
	}
	t.Cleanup(func() { m.Close() })
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	require.NoError(t, unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0))
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	return m, s
}

// TestUnsupportedOS runs the command built for js/wasm under node: conns,
// demo and why (with --kill too) exist there and say clearly that they
// need Linux.
func TestUnsupportedOS(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("node"); err != nil {
		testkit.Skip(t, "skipping: running the js/wasm build needs node (apt-get install nodejs)")
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	require.NoError(t, err)
	wasm := filepath.Join(t.TempDir(), "keepalive.wasm")
	build := exec.Command("go", "build", "-o", wasm, ".")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, args := range [][]string{{"conns"}, {"demo"}, {"why", "127.0.0.1:80"}, {"why", "--kill", "--yes", ":80"}} {
		sub := args[0]
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "go_js_wasm_exec"), append([]string{wasm}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		var exitErr *exec.ExitError
		require.ErrorAs(t, err, &exitErr, "%s: %s", sub, stderr.String())
		assert.Equal(t, 1, exitErr.ExitCode(), sub)
		assert.Contains(t, stderr.String(), "keepalive "+sub+": ", sub)
		assert.Contains(t, stderr.String(), "needs Linux", sub)
		assert.Contains(t, stderr.String(), "not available on js", sub)
		assert.Empty(t, stdout.String(), sub)
	}
}

// TestBinaryLinksNoTestKit: the shipped command must not carry the testing
// package (or internal/testkit, which imports it); the demo's dead peer
// and its namespace come from keepalivetest, which does not.
func TestBinaryLinksNoTestKit(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := strings.Fields(string(out))
	assert.Contains(t, deps, "github.com/keepalive-go/keepalive/keepalivetest", "the list must be the command's")
	assert.NotContains(t, deps, "testing")
	assert.NotContains(t, deps, "github.com/keepalive-go/keepalive/internal/testkit")
}
