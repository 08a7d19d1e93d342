package keepalive_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/internal/testkit/deadpeer"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

// pairWith dials a loopback pair whose client holds cfg.
func pairWith(t *testing.T, cfg keepalive.Config) (client, server net.Conn) {
	t.Helper()
	return testkit.Pair(t, testkit.Loopbacks(t)[0], nil, cfg.Dialer(nil).DialContext)
}

// outq is SIOCOUTQ and SIOCOUTQNSD: bytes not yet acknowledged (sent or
// not) and bytes not yet sent, read independently of StatusOf.
func outq(t *testing.T, conn net.Conn) (queued, unsent int) {
	t.Helper()
	rc, err := conn.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	require.NoError(t, rc.Control(func(fd uintptr) {
		queued, err = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		require.NoError(t, err)
		unsent, err = unix.IoctlGetInt(int(fd), unix.SIOCOUTQNSD)
		require.NoError(t, err)
	}))
	return queued, unsent
}

func TestStatusOpen(t *testing.T) {
	t.Parallel()
	cfg := keepalive.Config{Idle: 37 * time.Second, Interval: 11 * time.Second, Count: 5, UserTimeout: 4321 * time.Millisecond}
	client, server := pairWith(t, cfg)
	_, err := client.Write([]byte("ping"))
	require.NoError(t, err)
	var b [4]byte
	_, err = io.ReadFull(server, b[:])
	require.NoError(t, err)

	st, err := keepalive.StatusOf(client)
	require.NoError(t, err)
	t.Logf("%+v", st)
	for _, f := range []keepalive.Field{keepalive.FieldState, keepalive.FieldKeepAlive, keepalive.FieldConfig, keepalive.FieldProbes,
		keepalive.FieldRetransmits, keepalive.FieldBackoff, keepalive.FieldUnacked, keepalive.FieldUnsent, keepalive.FieldSinceRecv,
		keepalive.FieldSinceAck, keepalive.FieldZeroWindow, keepalive.FieldRTT, keepalive.FieldRTO, keepalive.FieldGiveUp} {
		assert.True(t, st.Has(f), "field %#x unknown on Linux", f)
	}
	assert.Equal(t, keepalive.StateEstablished, st.State)
	assert.Equal(t, "established", st.State.String())
	assert.True(t, st.KeepAlive)
	assert.Equal(t, cfg, st.Config)
	assert.Zero(t, st.Probes)
	assert.Zero(t, st.Retransmits)
	assert.False(t, st.ZeroWindow)
	assert.Positive(t, st.RTO)
	// Idle: the model's IdleMax from the last segment received.
	d, err := cfg.Detection(keepalive.System{})
	require.NoError(t, err)
	assert.LessOrEqual(t, st.GiveUp, d.IdleMax)
	assert.Greater(t, st.GiveUp, d.IdleMax-5*time.Second)

	cause, _, err := keepalive.CauseOf(client, nil)
	require.NoError(t, err)
	assert.Equal(t, keepalive.CauseOpen, cause)

	// Keepalive off: nothing ends an idle connection.
	require.NoError(t, client.(*net.TCPConn).SetKeepAlive(false))
	st, err = keepalive.StatusOf(client)
	require.NoError(t, err)
	assert.False(t, st.KeepAlive)
	assert.Equal(t, keepalive.Never, st.GiveUp)
}

// Unacked and Unsent against SIOCOUTQ / SIOCOUTQNSD, with data in flight
// to a silent peer and queued behind a closed window.
func TestStatusBytes(t *testing.T) {
	t.Parallel()
	t.Run("in flight", func(t *testing.T) {
		t.Parallel()
		client, server := pairWith(t, keepalive.Config{UserTimeout: 30 * time.Second})
		deadpeer.Silence(t, server)
		_, err := client.Write(make([]byte, 3000))
		require.NoError(t, err)
		time.Sleep(50 * time.Millisecond)
		st, err := keepalive.StatusOf(client)
		require.NoError(t, err)
		queued, unsent := outq(t, client)
		t.Logf("%+v; SIOCOUTQ %d, SIOCOUTQNSD %d", st, queued, unsent)
		assert.EqualValues(t, queued-unsent, st.Unacked)
		assert.EqualValues(t, unsent, st.Unsent)
		assert.EqualValues(t, 3000, st.Unacked+st.Unsent)
		d, err := keepalive.Config{UserTimeout: 30 * time.Second}.Detection(keepalive.System{RTO: st.RTO})
		require.NoError(t, err)
		assert.Equal(t, d.InFlightMax, st.GiveUp)
	})
	t.Run("zero window", func(t *testing.T) {
		t.Parallel()
		client, _ := pairWith(t, keepalive.Config{UserTimeout: 30 * time.Second})
		st := fill(t, client)
		queued, unsent := outq(t, client)
		t.Logf("%+v; SIOCOUTQ %d, SIOCOUTQNSD %d", st, queued, unsent)
		assert.True(t, st.ZeroWindow)
		assert.Positive(t, st.Unsent)
		assert.Zero(t, st.Unacked)
		assert.Equal(t, keepalive.CauseOpen, mustCause(t, client))
	})
}

// fill writes to conn, whose peer does not read, until the peer's window
// is zero, and returns that Status.
func fill(t *testing.T, conn net.Conn) keepalive.Status {
	t.Helper()
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		require.NoError(t, conn.SetWriteDeadline(time.Now().Add(20*time.Millisecond)))
		if _, err := conn.Write(buf); err != nil && !errors.Is(err, syscall.ETIMEDOUT) && !isDeadline(err) {
			require.NoError(t, err)
		}
		st, err := keepalive.StatusOf(conn)
		require.NoError(t, err)
		if st.ZeroWindow && st.Unsent > 0 && st.Unacked == 0 {
			require.NoError(t, conn.SetWriteDeadline(time.Time{}))
			return st
		}
	}
	t.Fatal("the peer's window did not close within 10s")
	return keepalive.Status{}
}

func isDeadline(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func mustCause(t *testing.T, conn net.Conn) keepalive.Cause {
	t.Helper()
	c, _, err := keepalive.CauseOf(conn, nil)
	require.NoError(t, err)
	return c
}

// causeCase is one way a connection ends: end makes it end (it returns
// once the connection has failed, or fails the test), want is the cause.
type causeCase struct {
	name string
	cfg  keepalive.Config
	// end ends the connection and waits for client's calls to fail;
	// it returns what they said.
	end  func(t *testing.T, client, server net.Conn) []error
	want keepalive.Cause
}

// firstError is the error a caller passes to CauseOf: the first of the
// failed calls' that is not io.EOF, which says nothing once another call
// took the socket's error.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	return nil
}

// reader reads conn until it fails, for up to bound.
func reader(conn net.Conn, bound time.Duration) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := testkit.ReadFailure(conn, time.Now(), bound)
		ch <- err
	}()
	return ch
}

// writer writes to conn until it fails, for up to bound.
func writer(conn net.Conn, bound time.Duration) <-chan error {
	ch := make(chan error, 1)
	go func() {
		conn.SetWriteDeadline(time.Now().Add(bound))
		buf := make([]byte, 16<<10)
		for {
			if _, err := conn.Write(buf); err != nil {
				ch <- err
				return
			}
		}
	}()
	return ch
}

func TestCause(t *testing.T) {
	t.Parallel()
	cases := []causeCase{
		{
			name: "keepalive timeout",
			cfg:  keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 2},
			end: func(t *testing.T, client, server net.Conn) []error {
				deadpeer.Silence(t, server)
				return []error{<-reader(client, 20*time.Second)}
			},
			want: keepalive.CauseKeepAlive,
		},
		{
			name: "retransmission timeout, reader and writer",
			cfg:  keepalive.Config{Idle: 30 * time.Second, UserTimeout: 1500 * time.Millisecond},
			end: func(t *testing.T, client, server net.Conn) []error {
				deadpeer.Silence(t, server)
				r, w := reader(client, 20*time.Second), writer(client, 20*time.Second)
				return []error{<-r, <-w}
			},
			want: keepalive.CauseRetransmit,
		},
		{
			name: "retransmission timeout, tcp_retries2",
			cfg:  keepalive.Config{Idle: 30 * time.Second},
			end: func(t *testing.T, client, server net.Conn) []error {
				deadpeer.Silence(t, server)
				// With retries2 at the default this takes 15 minutes:
				// only the reader's view is checked here, through
				// Status, not the end.
				_, err := client.Write([]byte("x"))
				require.NoError(t, err)
				require.Eventually(t, func() bool {
					st, err := keepalive.StatusOf(client)
					return err == nil && st.Retransmits > 0
				}, 10*time.Second, 20*time.Millisecond)
				st, err := keepalive.StatusOf(client)
				require.NoError(t, err)
				assert.Equal(t, keepalive.StateEstablished, st.State)
				assert.Positive(t, st.Backoff)
				lo, _ := keepalive.Config{}.Detection(keepalive.System{})
				assert.LessOrEqual(t, st.GiveUp, lo.InFlightMax)
				return nil
			},
			want: keepalive.CauseOpen,
		},
		{
			name: "zero-window timeout",
			cfg:  keepalive.Config{Idle: 30 * time.Second, UserTimeout: 1500 * time.Millisecond},
			end: func(t *testing.T, client, server net.Conn) []error {
				fill(t, client)
				return []error{<-writer(client, 20*time.Second)}
			},
			want: keepalive.CauseZeroWindow,
		},
		{
			name: "reset by peer, reader and writer",
			end: func(t *testing.T, client, server net.Conn) []error {
				r := reader(client, 10*time.Second)
				require.NoError(t, server.(*net.TCPConn).SetLinger(0))
				require.NoError(t, server.Close())
				return []error{<-r, <-writer(client, 10*time.Second)}
			},
			want: keepalive.CauseReset,
		},
		{
			// Linux keeps the probe count after a reset: fewer probes
			// than Count, with the error taken by the Read, is a reset.
			name: "reset by peer after 1 of 5 keepalive probes",
			cfg:  keepalive.Config{Idle: time.Second, Interval: 2 * time.Second, Count: 5},
			end: func(t *testing.T, client, server net.Conn) []error {
				deadpeer.Silence(t, server)
				r := reader(client, 20*time.Second)
				require.Eventually(t, func() bool {
					st, err := keepalive.StatusOf(client)
					return err == nil && st.Probes == 1
				}, 10*time.Second, 20*time.Millisecond, "the first probe went unanswered")
				require.NoError(t, server.(*net.TCPConn).SetLinger(0))
				require.NoError(t, server.Close()) // the reset leaves the silenced socket
				return []error{<-r}
			},
			want: keepalive.CauseReset,
		},
		{
			name: "closed by peer",
			end: func(t *testing.T, client, server net.Conn) []error {
				r := reader(client, 10*time.Second)
				require.NoError(t, server.Close())
				return []error{<-r}
			},
			want: keepalive.CausePeerClosed,
		},
		{
			name: "closed by peer, then written to",
			end: func(t *testing.T, client, server net.Conn) []error {
				r := reader(client, 10*time.Second)
				require.NoError(t, server.Close())
				return []error{<-r, <-writer(client, 10*time.Second)}
			},
			want: keepalive.CauseReset, // the peer's kernel answers the write with a reset
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, server := pairWith(t, tc.cfg)
			errs := tc.end(t, client, server)
			said := firstError(errs)
			cause, st, err := keepalive.CauseOf(client, said)
			require.NoError(t, err)
			t.Logf("calls said %v; CauseOf(%v): %v, %v", errs, said, cause, st)
			assert.Equal(t, tc.want, cause)
			if errs != nil && tc.want != keepalive.CauseOpen {
				// Asked again, with SO_ERROR taken, it says the same;
				// without the call's error, the same or unknown.
				again, _, err := keepalive.CauseOf(client, said)
				require.NoError(t, err)
				assert.Equal(t, tc.want, again)
				blind, _, err := keepalive.CauseOf(client, nil)
				require.NoError(t, err)
				assert.Contains(t, []keepalive.Cause{tc.want, keepalive.CauseUnknown}, blind, "without the error")
			}
			require.NoError(t, client.Close())
			after, _, err := keepalive.CauseOf(client, nil)
			require.NoError(t, err)
			assert.Equal(t, keepalive.CauseClosedLocally, after)
		})
	}
}

// A local route gone (a blackhole route, in a private network namespace):
// data written afterwards never leaves, and data sent before is
// retransmitted into the hole.
func TestCauseNoRoute(t *testing.T) {
	t.Parallel()
	for _, when := range []string{"written after", "in flight"} {
		t.Run(when, func(t *testing.T) {
			if !keepalivetest.InNetNS(t, nil) {
				return
			}
			lb := testkit.Loopback{Network: "tcp4", Addr: "127.0.0.2:0"}
			client, server := testkit.Pair(t, lb, nil, keepalive.Config{Idle: 30 * time.Second, UserTimeout: 2 * time.Second}.Dialer(nil).DialContext)
			if when == "in flight" {
				deadpeer.Silence(t, server)
				_, err := client.Write([]byte("x"))
				require.NoError(t, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "ip", "route", "add", "blackhole", "127.0.0.2/32", "table", "local").CombinedOutput()
			if err != nil {
				testkit.Skip(t, "skipping: ip route add blackhole: "+err.Error()+": "+string(out))
			}
			r := reader(client, 20*time.Second)
			if when == "written after" {
				_, err := client.Write([]byte("x"))
				require.NoError(t, err)
			}
			rerr := <-r
			cause, st, err := keepalive.CauseOf(client, rerr)
			require.NoError(t, err)
			t.Logf("read said %v; CauseOf: %v, %+v", rerr, cause, st)
			assert.Equal(t, keepalive.CauseNoRoute, cause)
		})
	}
}

// infoFloor is one raw getsockopt(TCP_INFO) into a reused buffer, in one
// RawConn.Control with a callback bound once: the cheapest read of
// TCP_INFO from Go. With all, it adds what StatusOf reads besides on an
// idle connection: the five keepalive options.
type infoFloor struct {
	info unix.TCPInfo
	all  bool
	vals [5]int
	err  error
	fn   func(fd uintptr)
}

func newInfoFloor(all bool) *infoFloor {
	f := &infoFloor{all: all}
	f.fn = f.get
	return f
}

func (f *infoFloor) get(fd uintptr) {
	n := uint32(unsafe.Sizeof(f.info))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&f.info)), uintptr(unsafe.Pointer(&n)), 0); e != 0 {
		f.err = e
		return
	}
	if f.all {
		f.err = getFive(int(fd), &f.vals)
	}
}

func (f *infoFloor) read(tc *net.TCPConn) error {
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	if err := rc.Control(f.fn); err != nil {
		return err
	}
	return f.err
}

// StatusOf against the raw floors, separately (ns/op, allocs) and paired
// (ratio).
func BenchmarkStatus(b *testing.B) {
	client, _ := testkit.Pair(b, testkit.Loopbacks(b)[0], nil, full.Dial)
	tc := client.(*net.TCPConn)
	info, all := newInfoFloor(false), newInfoFloor(true)
	status := func() error { _, err := keepalive.StatusOf(client); return err }
	held := func() error { _, err := full.Status(client); return err }
	runLoop(b, "impl=raw-tcp-info", func() error { return info.read(tc) })
	runLoop(b, "impl=raw-all", func() error { return all.read(tc) })
	runLoop(b, "impl=StatusOf", status)
	runLoop(b, "impl=Config.Status", held)
	b.Run("paired/StatusOf/vs=raw-all", func(b *testing.B) { paired(b, 64, status, func() error { return all.read(tc) }) })
	b.Run("paired/Config.Status/vs=raw-tcp-info", func(b *testing.B) { paired(b, 64, held, func() error { return info.read(tc) }) })
}

// Config.Status takes the keepalive values from the Config; everything
// else is StatusOf's.
func TestStatusHeld(t *testing.T) {
	t.Parallel()
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			client, _ := pairWith(t, cfg)
			read, err := keepalive.StatusOf(client)
			require.NoError(t, err)
			held, err := cfg.Status(client)
			require.NoError(t, err)
			assert.Equal(t, read.Known, held.Known)
			assert.Equal(t, read.KeepAlive, held.KeepAlive)
			assert.Equal(t, read.Config, held.Config)
			assert.Equal(t, read.State, held.State)
			assert.InDelta(t, read.GiveUp, held.GiveUp, float64(time.Second))
		})
	}
	_, err := keepalive.Config{Idle: -1}.Status(nil)
	assert.ErrorIs(t, err, syscall.EINVAL)
}

// Bad input gets an error, never a panic.
func TestStatusBadInput(t *testing.T) {
	t.Parallel()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer udp.Close()
	udpConn, err := net.DialUDP("udp4", nil, udp.LocalAddr().(*net.UDPAddr))
	require.NoError(t, err)
	defer udpConn.Close()
	var nilTCP *net.TCPConn
	for name, conn := range map[string]net.Conn{"nil": nil, "typed nil": nilTCP, "udp": udpConn} {
		_, err := keepalive.StatusOf(conn)
		assert.ErrorIs(t, err, keepalive.ErrNotTCP, name)
		_, _, err = keepalive.CauseOf(conn, nil)
		assert.ErrorIs(t, err, keepalive.ErrNotTCP, name)
	}
	_, err = keepalive.StatusOfRawConn(nil)
	assert.ErrorIs(t, err, keepalive.ErrNotTCP)
	_, _, err = keepalive.CauseOfRawConn(nil, nil)
	assert.ErrorIs(t, err, keepalive.ErrNotTCP)
	rc, err := udpConn.SyscallConn()
	require.NoError(t, err)
	_, err = keepalive.StatusOfRawConn(rc)
	assert.ErrorIs(t, err, keepalive.ErrNotTCP)

	client, _ := pairWith(t, keepalive.Config{})
	require.NoError(t, client.Close())
	_, err = keepalive.StatusOf(client)
	assert.ErrorIs(t, err, net.ErrClosed)
}

func TestStatusNoAllocations(t *testing.T) {
	// Not parallel: AllocsPerRun counts the whole process's allocations.
	if raceEnabled {
		t.Skip("skipping: the race detector allocates")
	}
	client, _ := pairWith(t, full)
	var err1, err2 error
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, err1 = keepalive.StatusOf(client) }), "StatusOf")
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, err2 = full.Status(client) }), "Config.Status")
	require.NoError(t, err1)
	require.NoError(t, err2)
}
