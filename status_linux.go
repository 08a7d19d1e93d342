package keepalive

import (
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readCounters reads fd's TCP_INFO with one getsockopt into a stack buffer
// (unix.GetsockoptTCPInfo allocates), and its unacknowledged bytes.
func readCounters(sysfd uintptr, st *Status) error {
	var info unix.TCPInfo
	n := uint32(unsafe.Sizeof(info))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, sysfd, unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return os.NewSyscallError("getsockopt TCP_INFO", e)
	}
	st.fromLinux(&info, uintptr(n))
	// Unacknowledged bytes: none without unacknowledged segments; else
	// SIOCOUTQ (write_seq - snd_una) less the unsent, since TCP_INFO's
	// byte counters count the SYN and FIN too. Unknown where fromLinux
	// found nothing to measure (it left SinceRecv unknown).
	if !st.Has(FieldSinceRecv) {
	} else if info.Unacked == 0 {
		st.Unacked, st.Known = 0, st.Known|FieldUnacked
	} else if q, err := unix.IoctlGetInt(int(sysfd), unix.SIOCOUTQ); err == nil && st.Has(FieldUnsent) {
		st.Unacked, st.Known = max(0, int64(q)-st.Unsent), st.Known|FieldUnacked
	}
	return nil
}

// linuxStates maps include/net/tcp_states.h to State.
var linuxStates = [...]State{
	unix.BPF_TCP_ESTABLISHED: StateEstablished,
	unix.BPF_TCP_SYN_SENT:    StateSynSent,
	unix.BPF_TCP_SYN_RECV:    StateSynReceived,
	unix.BPF_TCP_FIN_WAIT1:   StateFinWait1,
	unix.BPF_TCP_FIN_WAIT2:   StateFinWait2,
	unix.BPF_TCP_TIME_WAIT:   StateTimeWait,
	unix.BPF_TCP_CLOSE:       StateClosed,
	unix.BPF_TCP_CLOSE_WAIT:  StateCloseWait,
	unix.BPF_TCP_LAST_ACK:    StateLastAck,
	unix.BPF_TCP_LISTEN:      StateListen,
	unix.BPF_TCP_CLOSING:     StateClosing,
}

// fromLinux fills st from the first n bytes of a tcp_info: older kernels
// return less, and what they leave out stays unknown.
func (st *Status) fromLinux(i *unix.TCPInfo, n uintptr) {
	has := func(end uintptr) bool { return n >= end }
	if int(i.State) < len(linuxStates) {
		st.State = linuxStates[i.State]
	}
	st.Probes, st.Retransmits, st.Backoff = int(i.Probes), int(i.Retransmits), int(i.Backoff)
	st.RTO = time.Duration(i.Rto) * time.Microsecond
	st.SinceRecv = time.Duration(i.Last_data_recv) * time.Millisecond
	st.SinceAck = time.Duration(i.Last_ack_recv) * time.Millisecond
	st.RTT = time.Duration(i.Rtt) * time.Microsecond
	st.Known |= FieldState | FieldProbes | FieldRetransmits | FieldBackoff | FieldRTO | FieldSinceRecv | FieldSinceAck | FieldRTT
	if has(unsafe.Offsetof(i.Bytes_retrans) + 8) { // Linux 4.19
		st.retransSent, st.Known = int64(i.Bytes_retrans), st.Known|fieldRetransSent
	}
	if has(unsafe.Offsetof(i.Notsent_bytes) + 4) { // Linux 4.6
		st.Unsent = int64(i.Notsent_bytes)
		st.Known |= FieldUnsent
	}
	if has(unsafe.Offsetof(i.Snd_wnd) + 4) { // Linux 6.2
		st.ZeroWindow = i.Snd_wnd == 0
		st.Known |= FieldZeroWindow
	}
	// No receive space measured (tcp_init_buffer_space, on reaching
	// ESTABLISHED): never connected, or refused. A connecting or listening
	// socket has nothing to measure either: the times since the last
	// segment count from boot, the window and queues from nothing.
	never := i.Rcv_space == 0
	if never || st.State == StateSynSent || st.State == StateListen {
		st.Known &^= FieldSinceRecv | FieldSinceAck | FieldZeroWindow | FieldRTT | FieldUnsent
		st.SinceRecv, st.SinceAck, st.ZeroWindow, st.RTT, st.Unsent = 0, 0, false, 0, 0
	}
	if never {
		st.Known |= fieldNeverConnected
	}
}
