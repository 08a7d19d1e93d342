package keepalive

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// Status is the kernel's view of a TCP connection at one moment. A field
// the OS does not report is unknown, not zero: Has says which are filled
// in. docs/status.md says where each field comes from on each OS.
type Status struct {
	Known Field // the fields this OS filled in

	State State
	// KeepAlive is SO_KEEPALIVE; Config holds the keepalive values and
	// user timeout in force, as Inspect reads them.
	KeepAlive bool
	Config    Config
	// Probes is how many keepalive (or zero-window) probes went out
	// unanswered; Retransmits how many retransmission timeouts in a row,
	// Backoff the exponent of the current retransmission timeout.
	Probes, Retransmits, Backoff int
	// Unacked is how many bytes were sent and not acknowledged, Unsent how
	// many are queued and not sent yet.
	Unacked, Unsent int64
	// SinceRecv is the time since data was last received, SinceAck since
	// an acknowledgement was last received.
	SinceRecv, SinceAck time.Duration
	// ZeroWindow is whether the peer's receive window is zero.
	ZeroWindow bool
	RTT, RTO   time.Duration
	// GiveUp is the longest, from this reading, until the kernel drops the
	// connection if nothing more arrives: 0 once it has, Never where
	// nothing will.
	GiveUp time.Duration

	// retransSent is how many bytes retransmissions put on the wire: a
	// retransmission that cannot leave this host does not count.
	retransSent int64
}

// Field is a set of Status fields.
type Field uint32

// The fields of Status, for Known.
const (
	FieldState Field = 1 << iota
	FieldKeepAlive
	FieldConfig
	FieldProbes
	FieldRetransmits
	FieldBackoff
	FieldUnacked
	FieldUnsent
	FieldSinceRecv
	FieldSinceAck
	FieldZeroWindow
	FieldRTT
	FieldRTO
	FieldGiveUp

	fieldNeverConnected Field = 1 << 30 // the socket never reached ESTABLISHED
	fieldRetransSent    Field = 1 << 31
)

var fieldNames = [...]string{"state", "keepalive", "config", "probes", "retransmits", "backoff", "unacked",
	"unsent", "since-recv", "since-ack", "zero-window", "rtt", "rto", "give-up"}

// String names the fields in f: "state|probes", or "0" for none.
func (f Field) String() string {
	var b []byte
	for i, name := range fieldNames {
		if f&(1<<i) != 0 {
			if b != nil {
				b = append(b, '|')
			}
			b = append(b, name...)
		}
	}
	if b == nil {
		return "0"
	}
	return string(b)
}

// Has reports whether every field in f is known.
func (s Status) Has(f Field) bool { return s.Known&f == f }

// String is s on one line: the known fields, Never as "never", then the
// unknown ones' names.
func (s Status) String() string {
	b := []byte(s.State.String())
	add := func(f Field, name string, v any) {
		if s.Has(f) {
			if d, ok := v.(time.Duration); ok && d == Never {
				v = "never"
			}
			b = fmt.Appendf(b, " %s=%v", name, v)
		}
	}
	add(FieldKeepAlive, "keepalive", s.KeepAlive)
	add(FieldConfig, "config", fmt.Sprintf("%+v", s.Config))
	add(FieldProbes, "probes", s.Probes)
	add(FieldRetransmits, "retransmits", s.Retransmits)
	add(FieldBackoff, "backoff", s.Backoff)
	add(FieldUnacked, "unacked", s.Unacked)
	add(FieldUnsent, "unsent", s.Unsent)
	add(FieldSinceRecv, "since-recv", s.SinceRecv)
	add(FieldSinceAck, "since-ack", s.SinceAck)
	add(FieldZeroWindow, "zero-window", s.ZeroWindow)
	add(FieldRTT, "rtt", s.RTT)
	add(FieldRTO, "rto", s.RTO)
	add(FieldGiveUp, "give-up", s.GiveUp)
	if u := (FieldGiveUp<<1 - 1) &^ s.Known; u != 0 {
		b = fmt.Appendf(b, " unknown=%v", u)
	}
	return string(b)
}

// State is a TCP state (RFC 9293).
type State uint8

// The TCP states, with the same values on every OS.
const (
	StateUnknown State = iota
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
	StateClosed
	StateListen
)

var stateNames = [...]string{"unknown", "syn-sent", "syn-received", "established", "fin-wait-1", "fin-wait-2",
	"close-wait", "closing", "last-ack", "time-wait", "closed", "listen"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// StatusOf reads the kernel's view of conn. conn may wrap a TCP connection,
// as for Apply. On OSes without the kernel's counters it fails with an
// error wrapping errors.ErrUnsupported; a closed connection fails with one
// wrapping net.ErrClosed.
func StatusOf(conn net.Conn) (Status, error) { return statusOf(conn, Config{}, readOptions) }

// Status is StatusOf for a connection that holds c, as Dial, Dialer,
// Listen, WrapListener and Apply leave it: it takes KeepAlive and Config
// from c instead of reading them, which on Linux saves five system calls.
func (c Config) Status(conn net.Conn) (Status, error) {
	p := host()
	if err := p.validate(c); err != nil {
		return Status{}, err
	}
	sys := systemOnce()
	c = p.rounded(c).withDefaults(Config{Idle: sys.Idle, Interval: sys.Interval, Count: sys.Count})
	return statusOf(conn, c, heldOptions)
}

// statusOf reads conn's Status, its keepalive values as src says.
func statusOf(conn net.Conn, held Config, src optionSource) (Status, error) {
	var st Status
	op := fdOp{kind: opStatus, cfg: held, src: src, st: &st}
	cerr, err := onConn(conn, &op)
	if cerr != nil {
		return Status{}, cerr
	}
	return st, err
}

// StatusOfRawConn is StatusOf for a socket that is not a net.Conn.
func StatusOfRawConn(rc syscall.RawConn) (Status, error) {
	var st Status
	op := fdOp{kind: opStatus, src: readOptions, st: &st}
	cerr, err := onRawConn(rc, &op)
	if cerr != nil {
		return Status{}, cerr
	}
	return st, err
}

// readStatus reads fd's counters (readCounters, status_<goos>.go), then
// the keepalive values (see optionSource).
func readStatus(sysfd uintptr, st *Status, held Config, src optionSource) error {
	if err := readCounters(sysfd, st); err != nil {
		return err
	}
	st.options(sysfd, held, src)
	return nil
}

// options fills in st's keepalive values from src, then GiveUp.
func (st *Status) options(fd uintptr, held Config, src optionSource) {
	switch src {
	case heldOptions:
		st.KeepAlive, st.Config = true, held
		st.Known |= FieldKeepAlive | FieldConfig
	case readOptions:
		// A Multipath TCP socket's values are read all the same.
		st.read(getOptions(fd, false))
	}
	host().giveUp(st, systemOnce())
}

// read takes the keepalive values getOptions read, if it could.
func (st *Status) read(c Config, on bool, err error) {
	if err == nil {
		st.KeepAlive, st.Config = on, c
		st.Known |= FieldKeepAlive | FieldConfig
	}
}

// optionSource says where readStatus takes the keepalive values from.
type optionSource uint8

const (
	readOptions optionSource = iota // getsockopt, one call per option
	heldOptions                     // the Config the caller says the socket holds
	noOptions                       // nowhere: left unknown (CauseOf)
)

// systemOnce is the host's System, read once: the model needs tcp_retries2
// for data in flight without a user timeout, and StatusOf must not read
// files on every call.
var systemOnce = sync.OnceValue(func() System {
	s, _ := readSystem()
	return s
})

// giveUp fills in st.GiveUp from the model (see Status.GiveUp), where the
// OS reported enough to know it.
func (p *platform) giveUp(st *Status, sys System) {
	if p == nil || !st.Has(FieldState) {
		return
	}
	switch st.State {
	case StateClosed:
		if st.Known&fieldNeverConnected == 0 { // else never connected: nothing to give up
			st.GiveUp, st.Known = 0, st.Known|FieldGiveUp
		}
		return
	case StateEstablished, StateCloseWait:
	default:
		return
	}
	if !st.Has(FieldKeepAlive | FieldConfig | FieldUnacked | FieldUnsent) {
		return
	}
	if st.Has(FieldRTO) && st.RTO > 0 {
		sys.RTO = st.RTO // the model's clock for a write starts with it
	}
	// Only the one bound this state needs: Config.Status must cost
	// little more than its getsockopt.
	m := p.modelConfig(st.Config, sys)
	switch {
	case st.Unacked > 0 || st.Unsent > 0 && !st.ZeroWindow:
		// Data in flight, or about to leave: the model's bound counts
		// from the write, which was no later than now.
		_, hi := p.inFlight(m, sys)
		if hi == 0 {
			return
		}
		st.GiveUp = hi
	case st.Unsent > 0: // the peer's window is closed
		_, hi := p.zeroWindow(m, sys)
		if hi == 0 {
			return
		}
		st.GiveUp = hi
	case !st.KeepAlive:
		st.GiveUp = Never
	default:
		if !st.Has(FieldSinceRecv | FieldSinceAck) {
			return
		}
		since := min(st.SinceRecv, st.SinceAck)
		st.GiveUp = max(0, p.idleWorstCase(m)-since)
	}
	st.Known |= FieldGiveUp
}

// errNoStatus is wrapped by StatusOf where the OS has no counters.
func errNoStatus(goos string) error {
	return fmt.Errorf("keepalive: %s has no TCP connection counters: %w", goos, errors.ErrUnsupported)
}
