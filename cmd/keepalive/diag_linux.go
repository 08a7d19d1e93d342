package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The sock_diag dump is parsed here rather than by netlink.Handle's
// SocketDiagTCPInfo, which stops at a message it cannot parse and returns
// the sockets before it with a nil error: a partial list that looks whole.
// Here every message is length-checked, and one that does not parse fails
// the dump.

const (
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY, include/uapi/linux/sock_diag.h
	inetDiagInfo     = 2  // INET_DIAG_INFO: struct tcp_info
	inetDiagULPInfo  = 19 // INET_DIAG_ULP_INFO, nested: INET_ULP_INFO_NAME (1)
	inetDiagMsgLen   = 72 // struct inet_diag_msg
	nlmFDumpIntr     = 0x10
)

// openDiagSocket opens a NETLINK_INET_DIAG socket, with a receive timeout
// so that a dump never blocks for good.
func openDiagSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_INET_DIAG)
	if err != nil {
		return -1, os.NewSyscallError("socket AF_NETLINK", err)
	}
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt SO_RCVTIMEO", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind AF_NETLINK", err)
	}
	return fd, nil
}

// diagSock is one socket of a dump: the message, its tcp_info, and its
// upper-layer protocol ("mptcp" for a Multipath TCP subflow; "tls"; "" for
// none), which the kernel sends with tcp_info.
type diagSock struct {
	*netlink.InetDiagTCPInfoResp
	ulp string
}

// dumpTCP dumps the TCP sockets of family, in every state, with their
// tcp_info. It returns netlink.ErrDumpInterrupted (and what it read) when
// the kernel says the table changed during the dump.
func dumpTCP(fd int, family uint8, seq uint32) ([]diagSock, error) {
	ne := binary.NativeEndian
	// nlmsghdr (16) + inet_diag_req_v2 (56).
	msg := make([]byte, unix.NLMSG_HDRLEN+56)
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], sockDiagByFamily)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(msg[8:], seq)
	r := msg[unix.NLMSG_HDRLEN:]
	r[0], r[1], r[2] = family, unix.IPPROTO_TCP, 1<<(inetDiagInfo-1)
	ne.PutUint32(r[4:], 0xffffffff) // every state
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, os.NewSyscallError("sendto SOCK_DIAG_BY_FAMILY", err)
	}
	var out []diagSock
	interrupted := false
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, os.NewSyscallError("recvfrom sock_diag dump", err)
		}
		b := buf[:n]
		for len(b) > 0 {
			if len(b) < unix.NLMSG_HDRLEN {
				return nil, fmt.Errorf("sock_diag: truncated netlink header (%d bytes)", len(b))
			}
			l := int(ne.Uint32(b[0:]))
			typ, flags, mseq := ne.Uint16(b[4:]), ne.Uint16(b[6:]), ne.Uint32(b[8:])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return nil, fmt.Errorf("sock_diag: netlink message of %d bytes in %d", l, len(b))
			}
			body := b[unix.NLMSG_HDRLEN:l]
			b = b[min(len(b), nlmAlign(l)):]
			if mseq != seq {
				continue // a reply to an earlier request
			}
			if flags&nlmFDumpIntr != 0 {
				interrupted = true
			}
			switch typ {
			case unix.NLMSG_DONE:
				if interrupted {
					return out, netlink.ErrDumpInterrupted
				}
				return out, nil
			case unix.NLMSG_ERROR:
				if len(body) < 4 {
					return nil, fmt.Errorf("sock_diag: truncated error message")
				}
				if e := -int32(ne.Uint32(body)); e != 0 {
					return nil, fmt.Errorf("sock_diag dump: %w", unix.Errno(e))
				}
				continue
			case sockDiagByFamily:
			default:
				continue
			}
			s, err := parseDiagMsg(body)
			if err != nil {
				return nil, fmt.Errorf("sock_diag: socket %d of the dump: %w", len(out)+1, err)
			}
			out = append(out, s)
		}
	}
}

func nlmAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// parseDiagMsg reads a struct inet_diag_msg and its INET_DIAG_INFO.
func parseDiagMsg(b []byte) (diagSock, error) {
	if len(b) < inetDiagMsgLen {
		return diagSock{}, fmt.Errorf("inet_diag_msg of %d bytes, want %d", len(b), inetDiagMsgLen)
	}
	ne, be := binary.NativeEndian, binary.BigEndian
	m := &netlink.Socket{
		Family:  b[0],
		State:   b[1],
		Timer:   b[2],
		Retrans: b[3],
		Expires: ne.Uint32(b[52:]),
		RQueue:  ne.Uint32(b[56:]),
		WQueue:  ne.Uint32(b[60:]),
		UID:     ne.Uint32(b[64:]),
		INode:   ne.Uint32(b[68:]),
	}
	m.ID.SourcePort, m.ID.DestinationPort = be.Uint16(b[4:]), be.Uint16(b[6:])
	switch m.Family {
	case unix.AF_INET:
		m.ID.Source, m.ID.Destination = net.IP(append([]byte(nil), b[8:12]...)), net.IP(append([]byte(nil), b[24:28]...))
	case unix.AF_INET6:
		m.ID.Source, m.ID.Destination = net.IP(append([]byte(nil), b[8:24]...)), net.IP(append([]byte(nil), b[24:40]...))
	default:
		return diagSock{}, fmt.Errorf("address family %d", m.Family)
	}
	m.ID.Interface = ne.Uint32(b[40:])
	m.ID.Cookie = [2]uint32{ne.Uint32(b[44:]), ne.Uint32(b[48:])}
	res := diagSock{InetDiagTCPInfoResp: &netlink.InetDiagTCPInfoResp{InetDiagMsg: m}}
	for a := b[inetDiagMsgLen:]; len(a) > 0; {
		if len(a) < unix.SizeofRtAttr {
			return diagSock{}, fmt.Errorf("truncated attribute header (%d bytes)", len(a))
		}
		l, typ := int(ne.Uint16(a[0:])), ne.Uint16(a[2:])
		if l < unix.SizeofRtAttr || l > len(a) {
			return diagSock{}, fmt.Errorf("attribute %d of %d bytes in %d", typ, l, len(a))
		}
		switch typ {
		case inetDiagInfo:
			res.TCPInfo = parseTCPInfo(a[unix.SizeofRtAttr:l])
		case inetDiagULPInfo:
			res.ulp = ulpName(a[unix.SizeofRtAttr:l])
		}
		a = a[min(len(a), (l+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1)):]
	}
	return res, nil
}

// ulpName reads INET_ULP_INFO_NAME from INET_DIAG_ULP_INFO's nested
// attributes; "" if absent or malformed.
func ulpName(a []byte) string {
	ne := binary.NativeEndian
	for len(a) >= unix.SizeofRtAttr {
		l, typ := int(ne.Uint16(a[0:])), ne.Uint16(a[2:])
		if l < unix.SizeofRtAttr || l > len(a) {
			return ""
		}
		if typ == 1 { // INET_ULP_INFO_NAME, a NUL-terminated string
			v := a[unix.SizeofRtAttr:l]
			if i := bytes.IndexByte(v, 0); i >= 0 {
				v = v[:i]
			}
			return string(v)
		}
		a = a[min(len(a), (l+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1)):]
	}
	return ""
}

// parseTCPInfo reads the fields of struct tcp_info this command uses, each
// only if the kernel's (possibly shorter) struct holds it; nil if it holds
// none of them.
func parseTCPInfo(b []byte) *netlink.TCPInfo {
	if len(b) < 8 {
		return nil
	}
	ne := binary.NativeEndian
	u32 := func(off int) uint32 {
		if len(b) < off+4 {
			return 0
		}
		return ne.Uint32(b[off:])
	}
	return &netlink.TCPInfo{
		State:          b[0],
		Ca_state:       b[1],
		Retransmits:    b[2],
		Probes:         b[3],
		Backoff:        b[4],
		Options:        b[5],
		Rto:            u32(8),
		Ato:            u32(12),
		Snd_mss:        u32(16),
		Rcv_mss:        u32(20),
		Unacked:        u32(24),
		Sacked:         u32(28),
		Lost:           u32(32),
		Retrans:        u32(36),
		Fackets:        u32(40),
		Last_data_sent: u32(44),
		Last_ack_sent:  u32(48),
		Last_data_recv: u32(52),
		Last_ack_recv:  u32(56),
	}
}
