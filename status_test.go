package keepalive

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// The C structs' sizes: darwin's tcp_connection_info (0x70 in
// golang.org/x/sys/unix), FreeBSD's tcp_info (0xec), Windows' TCP_INFO_v0.
func TestStatusStructSizes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) == 8 { // macOS is 64-bit only; 32-bit hosts align uint64 to 4
		assert.EqualValues(t, 0x70, unsafe.Sizeof(darwinConnInfo{}))
	}
	assert.EqualValues(t, 0xec, unsafe.Sizeof(freebsdTCPInfo{}))
	assert.EqualValues(t, 88, unsafe.Sizeof(windowsTCPInfo0{}))
	assert.EqualValues(t, 20, unsafe.Offsetof(windowsTCPInfo0{}.RttUs))
	assert.EqualValues(t, 48, unsafe.Offsetof(windowsTCPInfo0{}.BytesOut))
	assert.EqualValues(t, 84, unsafe.Offsetof(windowsTCPInfo0{}.SynRetrans))
	assert.EqualValues(t, 52, unsafe.Offsetof(freebsdTCPInfo{}.LastDataRecv))
	assert.EqualValues(t, 68, unsafe.Offsetof(freebsdTCPInfo{}.Rtt))
	assert.EqualValues(t, 100, unsafe.Offsetof(freebsdTCPInfo{}.SndWnd))
	assert.EqualValues(t, 32, unsafe.Offsetof(darwinConnInfo{}.SndSbbytes))
	assert.EqualValues(t, 44, unsafe.Offsetof(darwinConnInfo{}.Srtt))
}

const allFields = FieldState | FieldKeepAlive | FieldConfig | FieldProbes | FieldRetransmits | FieldBackoff |
	FieldUnacked | FieldUnsent | FieldSinceRecv | FieldSinceAck | FieldZeroWindow | FieldRTT | FieldRTO | FieldGiveUp

// Each OS's mapping, with what it cannot know left unknown.
func TestStatusMapping(t *testing.T) {
	cfg := Config{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3}
	withConfig := func(st Status) Status {
		st.KeepAlive, st.Config, st.Known = true, cfg, st.Known|FieldKeepAlive|FieldConfig
		return st
	}
	t.Run("darwin", func(t *testing.T) {
		var st Status
		st.fromDarwin(&darwinConnInfo{State: 4, Srtt: 3, Rto: 230, SndWnd: 1 << 16})
		st = withConfig(st)
		darwinPlatform.giveUp(&st, System{})
		assert.Equal(t, StateEstablished, st.State)
		assert.Equal(t, 3*time.Millisecond, st.RTT)
		assert.Equal(t, 230*time.Millisecond, st.RTO)
		assert.False(t, st.ZeroWindow)
		assert.True(t, st.Has(FieldUnacked|FieldUnsent), "an empty send buffer: nothing unacknowledged or unsent")
		for _, f := range []Field{FieldProbes, FieldRetransmits, FieldBackoff, FieldSinceRecv, FieldSinceAck, FieldGiveUp} {
			assert.False(t, st.Has(f), "field %#x", f)
		}

		st = Status{}
		st.fromDarwin(&darwinConnInfo{State: 5, SndSbbytes: 100})
		assert.Equal(t, StateCloseWait, st.State)
		assert.False(t, st.Has(FieldUnacked), "bytes queued, sent or not: unknown which")
		assert.False(t, st.Has(FieldRTO), "no retransmission timer running")

		st = Status{}
		st.fromDarwin(&darwinConnInfo{State: 0})
		darwinPlatform.giveUp(&st, System{})
		assert.Equal(t, StateClosed, st.State)
		assert.True(t, st.Has(FieldGiveUp))
		assert.Zero(t, st.GiveUp)
		assert.Equal(t, CauseUnknown, causeFrom(st, 0, Config{}, seen{}), "no counters: the cause is unknown")
		assert.Equal(t, CauseReset, causeFrom(st, syscall.ECONNRESET, Config{}, seen{}))
	})
	t.Run("freebsd", func(t *testing.T) {
		var st Status
		st.fromFreeBSD(&freebsdTCPInfo{State: 4, Rtt: 1500, Rto: 201000, LastDataRecv: 700000}) // µs, as tcp_fill_info's ticks * tick
		assert.Equal(t, StateEstablished, st.State)
		assert.Equal(t, 1500*time.Microsecond, st.RTT)
		assert.Equal(t, 201*time.Millisecond, st.RTO)
		assert.Equal(t, 700*time.Millisecond, st.SinceRecv)
		assert.True(t, st.ZeroWindow)
		for _, f := range []Field{FieldProbes, FieldRetransmits, FieldBackoff, FieldUnacked, FieldUnsent, FieldSinceAck} {
			assert.False(t, st.Has(f), "field %#x", f)
		}
		st.fromFreeBSD(&freebsdTCPInfo{State: 9})
		assert.Equal(t, StateFinWait2, st.State)
	})
	t.Run("windows", func(t *testing.T) {
		var st Status
		st.fromWindows(&windowsTCPInfo0{State: 4, RttUs: 250, BytesInFlight: 1200, SndWnd: 65535})
		assert.Equal(t, StateEstablished, st.State)
		assert.Equal(t, 250*time.Microsecond, st.RTT)
		assert.EqualValues(t, 1200, st.Unacked)
		assert.True(t, st.Has(FieldUnacked))
		assert.False(t, st.ZeroWindow)
		for _, f := range []Field{FieldProbes, FieldRetransmits, FieldBackoff, FieldUnsent, FieldSinceRecv, FieldSinceAck, FieldRTO} {
			assert.False(t, st.Has(f), "field %#x", f)
		}
		st = Status{}
		st.fromWindows(&windowsTCPInfo0{State: 7})
		assert.Equal(t, StateCloseWait, st.State)
		assert.Equal(t, CausePeerClosed, causeFrom(st, 0, Config{}, seen{}))
		st.fromWindows(&windowsTCPInfo0{State: 99})
		assert.Equal(t, StateCloseWait, st.State, "an unknown state is not taken")
	})
}

// GiveUp from the model and the state, on Linux's rules.
func TestGiveUp(t *testing.T) {
	cfg := Config{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3, UserTimeout: 20 * time.Second}
	sys := System{RTO: 200 * time.Millisecond}
	d := linuxPlatform.detection(cfg, sys)
	base := Status{Known: allFields &^ FieldGiveUp, State: StateEstablished, KeepAlive: true, Config: cfg, RTO: 200 * time.Millisecond}
	for _, tc := range []struct {
		name string
		edit func(*Status)
		want time.Duration
	}{
		{"idle, just received", func(*Status) {}, d.IdleMax},
		{"idle, received 4 s ago", func(s *Status) { s.SinceRecv, s.SinceAck = 4*time.Second, 6*time.Second }, d.IdleMax - 4*time.Second},
		{"idle, long past", func(s *Status) { s.SinceRecv, s.SinceAck = time.Hour, time.Hour }, 0},
		{"keepalive off", func(s *Status) { s.KeepAlive = false }, Never},
		{"in flight", func(s *Status) { s.Unacked = 10 }, d.InFlightMax},
		{"unsent, window open", func(s *Status) { s.Unsent = 10 }, d.InFlightMax},
		{"zero window", func(s *Status) { s.Unsent, s.ZeroWindow = 10, true }, d.ZeroWindowMax},
		{"zero window, no user timeout", func(s *Status) { s.Unsent, s.ZeroWindow, s.Config.UserTimeout = 10, true, 0 }, Never},
		{"closed", func(s *Status) { s.State = StateClosed }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := base
			tc.edit(&st)
			linuxPlatform.giveUp(&st, System{})
			assert.True(t, st.Has(FieldGiveUp))
			assert.Equal(t, tc.want, st.GiveUp)
		})
	}
	st := base
	st.State = StateSynSent
	linuxPlatform.giveUp(&st, System{})
	assert.False(t, st.Has(FieldGiveUp), "not modelled")
	// No in-flight model without a user timeout on macOS: unknown.
	st = base
	st.Unacked, st.Config.UserTimeout = 10, 0
	darwinPlatform.giveUp(&st, System{})
	assert.False(t, st.Has(FieldGiveUp))
}

// What the kernel leaves after each ending (docs/status.md), decided, with
// what the failed call said (nil: nothing).
func TestCauseFrom(t *testing.T) {
	closed := Status{Known: allFields | fieldRetransSent, State: StateClosed}
	reset := &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	timedOut := &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ETIMEDOUT)}
	aborted := &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNABORTED)}
	ut := Config{Idle: 1e9, Interval: 2e9, Count: 5, UserTimeout: 6e9} // 3 probes fit: 1 + 3*2 >= 6
	for _, tc := range []struct {
		name  string
		edit  func(*Status)
		soErr syscall.Errno
		saw   seen
		want  Cause
		opts  Config // the keepalive values CauseOf reads for probes
	}{
		{"open", func(s *Status) { s.State = StateEstablished }, 0, seen{}, CauseOpen, Config{}},
		{"half-closed, open", func(s *Status) { s.State = StateFinWait2 }, 0, seen{}, CauseOpen, Config{}},
		{"fin", func(s *Status) { s.State = StateCloseWait }, 0, seen{}, CausePeerClosed, Config{}},
		{"connecting", func(s *Status) { s.State = StateSynSent }, 0, seen{}, CauseUnknown, Config{}},
		{"never connected", func(s *Status) { s.Known |= fieldNeverConnected }, 0, seen{}, CauseUnknown, Config{}},
		{"never connected, refused", func(s *Status) { s.Known |= fieldNeverConnected }, 0, seen{err: syscall.ECONNREFUSED}, CauseUnknown, Config{}},
		{"keepalive, count spent", func(s *Status) { s.Probes = 2 }, 0, seen{}, CauseKeepAlive, Config{Count: 2}},
		{"keepalive, pending", func(s *Status) { s.Probes = 2 }, syscall.ETIMEDOUT, seen{}, CauseKeepAlive, Config{}},
		{"keepalive, read timed out", func(s *Status) { s.Probes = 2 }, 0, seen{err: timedOut}, CauseKeepAlive, Config{}},
		{"probes, count not read, nothing said", func(s *Status) { s.Probes = 2 }, 0, seen{}, CauseUnknown, Config{}},
		{"retransmission", func(s *Status) { s.Retransmits, s.retransSent = 3, 1000 }, 0, seen{err: timedOut}, CauseRetransmit, Config{}},
		{"retransmission, nothing said", func(s *Status) { s.Retransmits, s.retransSent = 3, 1000 }, 0, seen{}, CauseUnknown, Config{}},
		{"(c) reset while retransmitting", func(s *Status) { s.Retransmits, s.retransSent = 1, 1 }, 0, seen{err: reset}, CauseReset, Config{}},
		{"retransmissions never left", func(s *Status) { s.Retransmits = 3 }, 0, seen{err: timedOut}, CauseNoRoute, Config{}},
		// A router's ICMP for retransmissions that left: the peer is gone.
		{"unreachable after retransmissions that left", func(s *Status) { s.Retransmits, s.retransSent = 3, 1000 }, syscall.EHOSTUNREACH, seen{}, CauseRetransmit, Config{}},
		{"unreachable, nothing left", func(s *Status) { s.Retransmits = 3 }, syscall.ENETUNREACH, seen{}, CauseNoRoute, Config{}},
		{"unreachable, said by the read", func(s *Status) { s.Retransmits = 3 }, 0, seen{err: syscall.ENETUNREACH}, CauseNoRoute, Config{}},
		{"own route blackholed", func(s *Status) { s.Retransmits, s.retransSent = 3, 1000 }, syscall.EINVAL, seen{}, CauseNoRoute, Config{}},
		{"reset after 1 of 5 probes, error taken", func(s *Status) { s.Probes = 1 }, 0, seen{err: reset}, CauseReset, Config{Count: 5}},
		{"1 of 5 probes, nothing said", func(s *Status) { s.Probes = 1 }, 0, seen{}, CauseUnknown, Config{Count: 5}},
		{"5 of 5 probes", func(s *Status) { s.Probes = 5 }, 0, seen{}, CauseKeepAlive, Config{Count: 5}},
		{"5 of 5 probes, reset said", func(s *Status) { s.Probes = 5 }, 0, seen{err: reset}, CauseReset, Config{Count: 5}},
		{"(d) reset after 1 probe under a user timeout", func(s *Status) { s.Probes = 1 }, 0, seen{err: reset}, CauseReset, ut},
		{"(d) 1 probe under a user timeout, nothing said", func(s *Status) { s.Probes = 1 }, 0, seen{}, CauseUnknown, ut},
		{"(d) the probes that fit in the user timeout", func(s *Status) { s.Probes = 3 }, 0, seen{}, CauseKeepAlive, ut},
		{"(d) one probe past a short user timeout", func(s *Status) { s.Probes = 1 }, 0, seen{}, CauseKeepAlive, Config{Idle: 2e9, Interval: 1e9, Count: 9, UserTimeout: 5e8}},
		{"written after the route went", func(s *Status) { s.Probes, s.Unsent = 3, 1 }, 0, seen{err: timedOut}, CauseNoRoute, Config{Count: 3}},
		{"zero window", func(s *Status) { s.Unsent, s.ZeroWindow = 5000, true }, 0, seen{err: timedOut}, CauseZeroWindow, Config{}},
		{"zero window, reset said", func(s *Status) { s.Unsent, s.ZeroWindow = 5000, true }, 0, seen{err: reset}, CauseReset, Config{}},
		{"reset, said", func(*Status) {}, 0, seen{err: reset}, CauseReset, Config{}},
		{"broken pipe, said", func(*Status) {}, 0, seen{err: syscall.EPIPE}, CauseReset, Config{}},
		// go-sql-driver/mysql's idle check peeks and takes ETIMEDOUT; its
		// goodbye write then gets EPIPE: not a reset.
		{"broken pipe after the probes ran out", func(s *Status) { s.Probes = 2 }, 0, seen{err: syscall.EPIPE}, CauseKeepAlive, Config{Count: 2}},
		{"broken pipe after retransmissions", func(s *Status) { s.Retransmits, s.retransSent = 3, 1000 }, 0, seen{err: syscall.EPIPE}, CauseUnknown, Config{}},
		{"broken pipe after this side's CloseWrite, then the peer's FIN", func(*Status) {}, 0, seen{err: syscall.EPIPE, closedWrite: true}, CausePeerClosed, Config{}},
		{"reset pending", func(s *Status) { s.Probes = 1 }, syscall.ECONNRESET, seen{}, CauseReset, Config{}},
		{"(a) nothing left, nothing said", func(*Status) {}, 0, seen{}, CauseUnknown, Config{}},
		{"(a) nothing left, EOF said", func(*Status) {}, 0, seen{err: io.EOF}, CauseUnknown, Config{}},
		{"(a) this side's FIN, then the peer's", func(*Status) {}, 0, seen{closedWrite: true}, CausePeerClosed, Config{}},
		{"(a) this side's FIN, then a reset", func(*Status) {}, syscall.ECONNRESET, seen{closedWrite: true}, CauseReset, Config{}},
		{"(b) ss -K pending", func(*Status) {}, syscall.ECONNABORTED, seen{}, CauseAborted, Config{}},
		{"(b) ss -K, taken by the read", func(*Status) {}, 0, seen{err: aborted}, CauseAborted, Config{}},
		{"no state", func(s *Status) { s.Known = 0 }, 0, seen{}, CauseUnknown, Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := closed
			tc.edit(&st)
			assert.Equal(t, tc.want, causeFrom(st, tc.soErr, tc.opts, tc.saw))
		})
	}
}

// Status prints Known as names and Never as "never" (%v and %+v).
func TestStatusString(t *testing.T) {
	assert.Equal(t, "0", Field(0).String())
	assert.Equal(t, "state|probes|give-up", (FieldState | FieldProbes | FieldGiveUp | fieldRetransSent).String())
	st := Status{Known: FieldState | FieldKeepAlive | FieldProbes | FieldGiveUp, State: StateEstablished, Probes: 1, GiveUp: Never}
	want := "established keepalive=false probes=1 give-up=never unknown=config|retransmits|backoff|unacked|unsent|since-recv|since-ack|zero-window|rtt|rto"
	assert.Equal(t, want, st.String())
	assert.Equal(t, want, fmt.Sprintf("%+v", st))
	assert.Equal(t, "unknown unknown="+(FieldGiveUp<<1-1).String(), Status{}.String())
}

func TestStatusWords(t *testing.T) {
	assert.Equal(t, []string{"unknown", "open", "keepalive timeout", "retransmission timeout", "zero-window timeout",
		"reset by peer", "closed by peer", "no route", "closed locally", "aborted locally (SOCK_DESTROY)"}, causeNames[:])
	assert.Equal(t, "cause(200)", Cause(200).String())
	assert.Equal(t, "state(200)", State(200).String())
	assert.Equal(t, "close-wait", StateCloseWait.String())
	assert.True(t, CauseKeepAlive.PeerDead())
	assert.True(t, CauseRetransmit.PeerDead())
	assert.False(t, CauseReset.PeerDead())
	assert.False(t, CauseAborted.PeerDead())
	err := errNoStatus("plan9")
	assert.True(t, errors.Is(err, errors.ErrUnsupported))
	assert.Contains(t, err.Error(), "plan9")
}
