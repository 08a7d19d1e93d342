package keepalive

import "time"

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
