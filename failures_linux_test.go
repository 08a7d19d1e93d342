package keepalive_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/faultlab"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// TestMain lets the test binary serve as the failure lab's peer process.
func TestMain(m *testing.M) {
	faultlab.ServePeer()
	os.Exit(m.Run())
}

// envFailureTable names a file the failure tests write their table to.
const envFailureTable = "KEEPALIVE_FAILURE_TABLE"

// newLab returns a failure lab that the test's end removes; without root or
// ip and nft it skips (and fails under CI).
func newLab(t *testing.T) *faultlab.Lab {
	t.Helper()
	if err := faultlab.Available(); err != nil {
		testkit.Skip(t, "skipping the failure lab: "+err.Error())
	}
	l, err := faultlab.New()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	return l
}

// Every way a peer dies (issue 11, scenarios 1-6, and the lab's other
// faults), in network namespaces: the blocked call gets the error the
// kernel really gives, within the model's bounds where the model promises
// one, and nothing ends the connection where nothing can.
func TestFailures(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var rows []faultlab.Result
	t.Cleanup(func() {
		if path := os.Getenv(envFailureTable); path != "" && !t.Failed() {
			require.NoError(t, os.WriteFile(path, []byte(failureTable(rows)), 0o644))
		}
	})
	for _, c := range faultlab.Cases {
		networks := []string{"tcp4"}
		if c.IPv6 {
			networks = append(networks, "tcp6")
		}
		for _, network := range networks {
			t.Run(c.Name+"/"+network, func(t *testing.T) {
				t.Parallel()
				r, err := faultlab.Measure(newLab(t), c, network)
				require.NoError(t, err)
				t.Logf("model %v [%v, %v], measured %v, %s (reader: %s)", r.Model, r.Lo, r.Hi, r.Took.Round(time.Millisecond), faultlab.ErrName(r.Err), faultlab.ErrName(r.ReaderErr))
				assert.NoError(t, r.Check())
				if c.Bound == faultlab.Never && c.Load == faultlab.Flood && c.Config.UserTimeout == 0 {
					assert.Equal(t, keepalive.Never, r.Detection.ZeroWindowMax, "the model knows a closed window without a user timeout is never ended")
				}
				mu.Lock()
				rows = append(rows, r)
				mu.Unlock()
			})
		}
	}
}

// failureTable renders the results in the Cases' order, IPv4 before IPv6.
func failureTable(rows []faultlab.Result) string {
	order := map[*faultlab.Case]int{}
	for i, c := range faultlab.Cases {
		order[c] = i
	}
	slices.SortFunc(rows, func(a, b faultlab.Result) int {
		if d := order[a.Case] - order[b.Case]; d != 0 {
			return d
		}
		return strings.Compare(a.Network, b.Network)
	})
	var b strings.Builder
	b.WriteString("| failure | what detects it | model bound | measured | error seen |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s (%s) | %s | %s | %s | %s |\n", r.Case.Name, r.Network, r.Case.Detects, modelBound(r), measured(r), errorSeen(r))
	}
	return b.String()
}

func modelBound(r faultlab.Result) string {
	ms := func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
	switch r.Case.Bound {
	case faultlab.IdleBound:
		return fmt.Sprintf("%s [%s, %s] from the dial", ms(r.Model), ms(r.Lo), ms(r.Hi))
	case faultlab.InFlightBound:
		return fmt.Sprintf("%s [%s, %s] from the write", ms(r.Model), ms(r.Lo), ms(r.Hi))
	case faultlab.ZeroWindowBound:
		return fmt.Sprintf("%s [%s, %s] from the window closing", ms(r.Model), ms(r.Lo), ms(r.Hi))
	case faultlab.FirstProbe:
		return fmt.Sprintf("Idle %s (first probe), before %s", ms(r.Model), ms(r.Hi))
	case faultlab.AtOnce:
		return "at once (< 1s)"
	}
	return "never"
}

func measured(r faultlab.Result) string {
	if r.Case.Bound == faultlab.Never && r.Case.SubflowClosed {
		return fmt.Sprintf("still open after %s, its subflow CLOSE", r.Took.Round(100*time.Millisecond))
	}
	if r.Case.Bound == faultlab.Never {
		s := fmt.Sprintf("still ESTABLISHED after %s", r.Took.Round(100*time.Millisecond))
		if r.Case.ProbesAnswered {
			s += fmt.Sprintf(", last ACK %s before", r.LastAckRecv)
		}
		if r.Writes > 0 {
			s += fmt.Sprintf(", %d writes succeeded", r.Writes)
		}
		return s
	}
	return r.Took.Round(time.Millisecond).String()
}

func errorSeen(r faultlab.Result) string {
	if r.Case.Load == faultlab.Flood {
		return fmt.Sprintf("Write: %s, Read: %s", faultlab.ErrName(r.Err), faultlab.ErrName(r.ReaderErr))
	}
	return faultlab.ErrName(r.Err)
}

// Scenario 4: a NAT that forgets flows idle for 4 s, with unknown flows
// dropped or reset. Within(10s, 4s) keeps an idle connection's flow alive
// across three of those timeouts, and it still carries data both ways.
// (A Config whose Idle exceeds the timeout: the NAT cases of TestFailures.)
func TestFailureNATKeptAlive(t *testing.T) {
	t.Parallel()
	const timeout = 4 * time.Second
	cfg, err := keepalive.Within(10*time.Second, timeout)
	require.NoError(t, err)
	require.Less(t, cfg.Idle, timeout)
	for name, unknown := range map[string]faultlab.Unknown{"drop": faultlab.Drop, "reset": faultlab.Reset} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			topo, err := newLab(t).Routed(faultlab.NAT{EstablishedTimeout: timeout, Unknown: unknown})
			require.NoError(t, err)
			client, server, err := topo.Pair(cfg.Dial, "tcp4")
			require.NoError(t, err)
			defer client.Close()
			defer server.Close()
			// Idle for three timeouts: the Read must not fail meanwhile.
			took, err := testkit.ReadFailure(client, time.Now(), 3*timeout+time.Second)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the connection failed after %v", took)
			require.NoError(t, client.SetDeadline(time.Now().Add(5*time.Second)))
			require.NoError(t, server.SetDeadline(time.Now().Add(5*time.Second)))
			_, err = client.Write([]byte("ping"))
			require.NoError(t, err)
			buf := make([]byte, 4)
			_, err = io.ReadFull(server, buf)
			require.NoError(t, err, "the NAT lost the flow")
			_, err = server.Write([]byte("pong"))
			require.NoError(t, err)
			_, err = io.ReadFull(client, buf)
			require.NoError(t, err, "the NAT lost the flow")
			assert.Equal(t, "pong", string(buf))
			t.Logf("Within(10s, %v) = %+v: alive and usable after %v idle", timeout, cfg, 3*timeout+time.Second)
		})
	}
}

// The lab only ever makes addresses inside its own namespaces: each is in
// its namespace and none in the host's. (Checked without sending anything:
// a packet to a lab address from the host's namespace could leave the
// machine by its default route.)
func TestFailureLabIsolated(t *testing.T) {
	t.Parallel()
	topo, err := newLab(t).Bridged()
	require.NoError(t, err)
	addrs := func(args ...string) string {
		out, err := exec.Command("ip", append(args, "-o", "addr", "show")...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	host := addrs()
	for ns, ips := range map[string][]string{topo.Client: {topo.ClientIP, topo.ClientIP6}, topo.Server: {topo.ServerIP, topo.ServerIP6}} {
		inside := addrs("-n", ns)
		for _, ip := range ips {
			assert.Contains(t, inside, " "+ip+"/", "the address is in the lab's namespace %s", ns)
			assert.NotContains(t, host, " "+ip+"/", "the lab's address is in the host's namespace")
		}
	}
}
