package keepalive

import "time"

// macOS and iOS: getsockopt TCP_CONNECTION_INFO (0x106, XNU
// bsd/netinet/tcp.h struct tcp_connection_info, tcp_connection_fill_info):
// the state, RTT and RTO in milliseconds, the peer's window, and the bytes
// in the send buffer, sent or not. No probe or retransmission counts, no
// time since the last segment: unknown.
type darwinConnInfo struct {
	State                        uint8
	SndWscale, RcvWscale         uint8
	_                            uint8
	Options, Flags               uint32
	Rto                          uint32 // ms; 0 when no retransmission timer runs
	Maxseg                       uint32
	SndSsthresh, SndCwnd, SndWnd uint32
	SndSbbytes                   uint32 // bytes in the send buffer: unacknowledged and unsent
	RcvWnd                       uint32
	Rttcur, Srtt, Rttvar         uint32 // ms
	Txpackets, Txbytes           uint64
	Txretransmitbytes            uint64
	Rxpackets, Rxbytes           uint64
	Rxoutoforderbytes            uint64
	Txretransmitpackets          uint64
}

// bsdStates maps the BSD TCPS_* numbers (netinet/tcp_fsm.h, the same in
// XNU and FreeBSD) to State.
var bsdStates = [...]State{StateClosed, StateListen, StateSynSent, StateSynReceived, StateEstablished,
	StateCloseWait, StateFinWait1, StateClosing, StateLastAck, StateFinWait2, StateTimeWait}

func (st *Status) fromDarwin(i *darwinConnInfo) {
	if int(i.State) < len(bsdStates) {
		st.State, st.Known = bsdStates[i.State], st.Known|FieldState
	}
	st.RTT = time.Duration(i.Srtt) * time.Millisecond
	st.ZeroWindow = i.SndWnd == 0
	st.Known |= FieldRTT | FieldZeroWindow
	if i.Rto > 0 {
		st.RTO, st.Known = time.Duration(i.Rto)*time.Millisecond, st.Known|FieldRTO
	}
	if i.SndSbbytes == 0 { // nothing queued: neither unacknowledged nor unsent
		st.Known |= FieldUnacked | FieldUnsent
	}
}
