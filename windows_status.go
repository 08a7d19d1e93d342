package keepalive

import "time"

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
