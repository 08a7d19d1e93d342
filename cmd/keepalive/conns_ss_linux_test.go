package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/internal/testkit/deadpeer"
	"github.com/keepalive-go/keepalive/keepalivetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ssSock is one socket of ss -tanoeip, with the fields conns reports too.
type ssSock struct {
	state, local, remote string
	recvQ, sendQ         int
	timer                string  // ss's name: on, keepalive, persist, timewait; "" for none
	timerIn              float64 // s, as ss rounds it
	timerRetrans         int
	uid, ino             int
	info                 map[string]string // the tcp_info line: rto, backoff, lastrcv, lastack, unacked...
}

var (
	ssTimerRe = regexp.MustCompile(`timer:\(([a-z]+),([^,]*),(\d+)\)`)
	ssField   = regexp.MustCompile(`\b(uid|ino):(\d+)`)
	ssInfo    = regexp.MustCompile(`\b([a-z_]+):([0-9./]+)`)
	// print_ms_timer: 1min29sec, 9.123ms (9 s 123 ms), 29sec, 204ms.
	ssDur = regexp.MustCompile(`^(?:(\d+)min)?(?:(\d+)(sec|\.))?(?:(\d+)ms)?$`)
)

// runSS lists this network namespace's TCP sockets with ss.
func runSS(t *testing.T) map[string]ssSock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ss", "-tanoeip").Output() // stderr: "Failed to find cgroup2 mount" in some containers
	require.NoError(t, err)
	socks := map[string]ssSock{}
	var last string
	for _, line := range strings.Split(string(out), "\n")[1:] {
		if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, " ") {
			if last != "" {
				s := socks[last]
				for _, m := range ssInfo.FindAllStringSubmatch(line, -1) {
					s.info[m[1]] = m[2]
				}
				socks[last] = s
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		s := ssSock{state: f[0], local: f[3], remote: f[4], info: map[string]string{}}
		s.recvQ, _ = strconv.Atoi(f[1])
		s.sendQ, _ = strconv.Atoi(f[2])
		if m := ssTimerRe.FindStringSubmatch(line); m != nil {
			s.timer = m[1]
			s.timerIn = ssSeconds(t, m[2])
			s.timerRetrans, _ = strconv.Atoi(m[3])
		}
		for _, m := range ssField.FindAllStringSubmatch(line, -1) {
			n, _ := strconv.Atoi(m[2])
			if m[1] == "uid" {
				s.uid = n
			} else {
				s.ino = n
			}
		}
		last = s.local + " " + s.remote
		socks[last] = s
	}
	return socks
}

func ssSeconds(t *testing.T, s string) float64 {
	m := ssDur.FindStringSubmatch(s)
	require.NotNil(t, m, "ss timer %q", s)
	n := func(i int) float64 { v, _ := strconv.ParseFloat(m[i], 64); return v }
	return n(1)*60 + n(2) + n(4)/1000
}

// connSS mirrors conns --json for the fields ss shows.
type connSS struct {
	State        string   `json:"state"`
	Local        string   `json:"local"`
	Remote       string   `json:"remote"`
	UID          int      `json:"uid"`
	Inode        int      `json:"inode"`
	Timer        string   `json:"timer"`
	TimerIn      float64  `json:"timer_in_s"`
	DiagRetrans  int      `json:"idiag_retrans"`
	Unacked      int      `json:"unacked"`
	RTO          *float64 `json:"rto_s"`
	RTOBase      *float64 `json:"rto_base_s"`
	Backoff      *int     `json:"backoff"`
	SendQ        *int     `json:"send_queue_bytes"`
	RecvQ        *int     `json:"recv_queue_bytes"`
	AcceptQ      *int     `json:"accept_queue"`
	Backlog      *int     `json:"accept_backlog"`
	LastDataRecv *float64 `json:"last_data_received_s"`
	LastAckRecv  *float64 `json:"last_ack_received_s"`
}

// ss's words for a state and a timer, from conns'.
var (
	ssState = map[string]string{"established": "ESTAB", "listen": "LISTEN", "time-wait": "TIME-WAIT"}
	ssTimer = map[string]string{"retransmit": "on", "keepalive": "keepalive", "zero-window-probe": "persist", "time-wait": "timewait", "none": ""}
)

// ssAddr is a socket end as ss prints it: 0.0.0.0:* for a listener's remote.
func ssAddr(end string) string {
	if h, p, err := net.SplitHostPort(end); err == nil && p == "0" {
		if strings.Contains(h, ":") {
			return "[" + h + "]:*"
		}
		return h + ":*"
	}
	return end
}

// TestConnsMatchesSS compares conns --json with ss -tanoeip, field by
// field, on sockets in the states where they used to disagree: idle with
// keepalive, retransmitting with backoff, a closed window, TIME-WAIT and
// listening. ss runs before and after conns, and a value that changes
// meanwhile must lie between the two.
func TestConnsMatchesSS(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ss"); err != nil {
		testkit.Skip(t, "skipping: comparing with ss needs ss (Debian: apt-get install iproute2)")
	}
	if !keepalivetest.InNetNS(t, nil) {
		return
	}
	lb := testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}
	cfg := keepalive.Config{Idle: 37 * time.Second, Interval: 11 * time.Second, Count: 4}
	idle, _ := testkit.Pair(t, lb, nil, cfg.Dial)

	retrans, silent := testkit.Pair(t, lb, nil, (&net.Dialer{KeepAlive: -1}).DialContext)
	deadpeer.Silence(t, silent)
	_, err := retrans.Write([]byte("lost"))
	require.NoError(t, err)

	full, _ := testkit.Pair(t, lb, nil, (&net.Dialer{KeepAlive: -1}).DialContext) // the peer never reads
	buf := make([]byte, 1<<20)
	for range 200 {
		full.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := full.Write(buf); err != nil {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			break
		}
	}

	closer, peer := testkit.Pair(t, lb, nil, (&net.Dialer{KeepAlive: -1}).DialContext)
	require.NoError(t, closer.Close())
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = peer.Read(make([]byte, 1))
	require.Error(t, err)
	require.NoError(t, peer.Close())

	key := func(c net.Conn) string { return c.LocalAddr().String() + " " + c.RemoteAddr().String() }
	cases := map[string]string{key(idle): "keepalive", key(retrans): "on", key(full): "persist", key(closer): "timewait"}
	// Backed off at least twice, and the window probed: where the RTO
	// shown and the one the model takes differ.
	require.Eventually(t, func() bool {
		ss := runSS(t)
		b, err := strconv.Atoi(ss[key(retrans)].info["backoff"])
		return err == nil && b >= 2 && ss[key(full)].timer == "persist" && ss[key(closer)].timer == "timewait"
	}, 20*time.Second, 100*time.Millisecond, "backoff 2 on the retransmitting socket")

	before := runSS(t)
	out := decode[struct {
		Connections []connSS `json:"connections"`
	}](t, keepaliveCmd(t, "conns", "--json"))
	after := runSS(t)

	between := func(what string, got, a, b, slack float64) {
		t.Helper()
		// 1e-9 of rounding: conns' seconds times 1000 need not be ss's
		// milliseconds exactly (1632.0000000000002).
		slack = max(slack, 1e-9*max(a, b, 1))
		lo, hi := min(a, b)-slack, max(a, b)+slack
		assert.True(t, got >= lo && got <= hi, "%s: conns %v, ss %v then %v", what, got, a, b)
	}
	num := func(s ssSock, k string) float64 { v, _ := strconv.ParseFloat(s.info[k], 64); return v } // ss leaves out a zero unacked
	seen := map[string]bool{}
	for _, c := range out.Connections {
		k := ssAddr(c.Local) + " " + ssAddr(c.Remote)
		s1, ok1 := before[k]
		s2, ok2 := after[k]
		require.True(t, ok1 && ok2, "%s %s: not in ss's list: %v", c.State, k, before)
		name := c.State + " " + k
		seen[k] = true
		if want, ok := cases[k]; ok {
			assert.Equal(t, want, s1.timer, name)
			delete(cases, k)
		}
		assert.Equal(t, s1.state, ssState[c.State], name)
		assert.Equal(t, s1.uid, c.UID, name+": uid")
		assert.Equal(t, s1.ino, c.Inode, name+": inode")
		assert.Equal(t, s1.timer, ssTimer[c.Timer], name+": timer")
		if s1.timer != "" {
			// ss drops the milliseconds beyond 9 s, the seconds beyond 9 min.
			between(name+": timer expires (s)", c.TimerIn, s1.timerIn, s2.timerIn, 1.01)
			between(name+": timer's retransmissions or probes", float64(c.DiagRetrans), float64(s1.timerRetrans), float64(s2.timerRetrans), 0)
		}
		if c.State == "listen" {
			require.NotNil(t, c.AcceptQ, name)
			require.NotNil(t, c.Backlog, name)
			assert.Equal(t, s1.recvQ, *c.AcceptQ, name+": accept queue (ss's Recv-Q)")
			assert.Equal(t, s1.sendQ, *c.Backlog, name+": backlog (ss's Send-Q)")
			assert.Nil(t, c.SendQ, name)
			assert.Zero(t, c.Unacked, name+": tcpi_unacked is the accept queue on a listener")
			continue
		}
		require.NotNil(t, c.SendQ, name+": ss's Send-Q")
		require.NotNil(t, c.RecvQ, name+": ss's Recv-Q")
		between(name+": Send-Q", float64(*c.SendQ), float64(s1.sendQ), float64(s2.sendQ), 0)
		between(name+": Recv-Q", float64(*c.RecvQ), float64(s1.recvQ), float64(s2.recvQ), 0)
		if _, ok := s1.info["rto"]; !ok { // no tcp_info: TIME-WAIT
			assert.Nil(t, c.RTO, name)
			assert.Nil(t, c.LastDataRecv, name+": unknown, not 0")
			assert.Nil(t, c.LastAckRecv, name+": unknown, not 0")
			assert.Nil(t, c.Backoff, name)
			continue
		}
		require.NotNil(t, c.RTO, name)
		require.NotNil(t, c.RTOBase, name)
		require.NotNil(t, c.Backoff, name)
		require.NotNil(t, c.LastDataRecv, name)
		require.NotNil(t, c.LastAckRecv, name)
		between(name+": rto (ms)", *c.RTO*1000, num(s1, "rto"), num(s2, "rto"), 0)
		between(name+": backoff", float64(*c.Backoff), num(s1, "backoff"), num(s2, "backoff"), 0)
		between(name+": unacked", float64(c.Unacked), num(s1, "unacked"), num(s2, "unacked"), 0)
		if c.Timer != "zero-window-probe" { // the peer answers each probe: last ack goes back to 0
			between(name+": lastrcv (ms)", *c.LastDataRecv*1000, num(s1, "lastrcv"), num(s2, "lastrcv"), 0)
			between(name+": lastack (ms)", *c.LastAckRecv*1000, num(s1, "lastack"), num(s2, "lastack"), 0)
		}
		switch c.Timer {
		case "retransmit":
			// What the kernel backs off: the RTO the write started with.
			assert.InDelta(t, *c.RTO, *c.RTOBase*float64(int(1)<<*c.Backoff), 0.0011, name+": rto_base_s is rto_s before the backoff")
			assert.GreaterOrEqual(t, *c.Backoff, 2, name)
		default:
			// The persist timer backs off its own interval, not the RTO.
			assert.Equal(t, *c.RTO, *c.RTOBase, name+": no backoff applied to the RTO")
		}
	}
	assert.Empty(t, cases, "sockets conns did not list")
	for k, s := range before {
		if _, ok := after[k]; ok && !seen[k] {
			t.Errorf("ss lists %s %s, conns does not", s.state, k)
		}
	}
}
