// The TCP_INFO layouts of the OSes whose counters are read from a struct
// mirrored here (Linux's is x/sys's unix.TCPInfo). This file builds on
// every host, so the conversions are tested on any.

package keepalive

import (
	"time"
)

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

// FreeBSD: getsockopt TCP_INFO (0x20, sys/netinet/tcp.h struct tcp_info,
// tcp_fill_info) in the layout every release since 6.0 keeps: the state,
// RTT and RTO in microseconds, the time since data was last received and
// the peer's window. The Linux fields named __tcpi_* (probes,
// retransmits, backoff, unacked) are never filled in: unknown.
type freebsdTCPInfo struct {
	State                                   uint8
	_, _, _, _                              uint8 // __tcpi_ca_state, retransmits, probes, backoff
	Options                                 uint8
	Wscale                                  uint8
	_                                       uint8
	Rto                                     uint32 // µs
	_                                       uint32
	SndMss, RcvMss                          uint32
	_, _, _, _, _, _, _                     uint32
	LastDataRecv                            uint32 // µs: ticks * tick, as Rto
	_, _, _                                 uint32
	Rtt, Rttvar                             uint32 // µs
	SndSsthresh, SndCwnd                    uint32
	_, _, _                                 uint32
	RcvSpace                                uint32
	SndWnd, SndBwnd, SndNxt, RcvNxt, ToeTid uint32
	SndRexmitpack, RcvOoopack, SndZerowin   uint32
	_                                       [26]uint32
}

func (st *Status) fromFreeBSD(i *freebsdTCPInfo) {
	if int(i.State) < len(bsdStates) {
		st.State, st.Known = bsdStates[i.State], st.Known|FieldState
	}
	st.RTT = time.Duration(i.Rtt) * time.Microsecond
	st.RTO = time.Duration(i.Rto) * time.Microsecond
	st.SinceRecv = time.Duration(i.LastDataRecv) * time.Microsecond
	st.ZeroWindow = i.SndWnd == 0
	st.Known |= FieldRTT | FieldRTO | FieldSinceRecv | FieldZeroWindow
}

// Windows 10 1703 and later: WSAIoctl SIO_TCP_INFO (mstcpip.h), version 0
// (TCP_INFO_v0): the state, RTT in microseconds, the bytes in flight and
// the peer's window. No probe or retransmission counts, no RTO, nothing on
// unsent data or the time since the last segment: unknown.
type windowsTCPInfo0 struct {
	State             int32 // TCPSTATE
	Mss               uint32
	ConnectionTimeMs  uint64
	TimestampsEnabled bool
	RttUs, MinRttUs   uint32
	BytesInFlight     uint32
	Cwnd, SndWnd      uint32
	RcvWnd, RcvBuf    uint32
	BytesOut, BytesIn uint64
	BytesReordered    uint32
	BytesRetrans      uint32
	FastRetrans       uint32
	DupAcksIn         uint32
	TimeoutEpisodes   uint32
	SynRetrans        uint8
}

// windowsStates maps TCPSTATE to State.
var windowsStates = [...]State{StateClosed, StateListen, StateSynSent, StateSynReceived, StateEstablished,
	StateFinWait1, StateFinWait2, StateCloseWait, StateClosing, StateLastAck, StateTimeWait}

func (st *Status) fromWindows(i *windowsTCPInfo0) {
	if i.State >= 0 && int(i.State) < len(windowsStates) {
		st.State, st.Known = windowsStates[i.State], st.Known|FieldState
	}
	st.RTT = time.Duration(i.RttUs) * time.Microsecond
	st.Unacked = int64(i.BytesInFlight)
	st.ZeroWindow = i.SndWnd == 0
	st.Known |= FieldRTT | FieldUnacked | FieldZeroWindow
}
