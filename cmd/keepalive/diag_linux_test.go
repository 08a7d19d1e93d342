package main

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/keepalive-go/keepalive/keepalivetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestParseDiagMsgLengths: a message or attribute shorter than it claims
// fails the dump instead of ending it early, and a short tcp_info (an
// older kernel's) gives the fields it holds.
func TestParseDiagMsgLengths(t *testing.T) {
	msg := make([]byte, inetDiagMsgLen)
	msg[0], msg[1] = unix.AF_INET, 1
	binary.BigEndian.PutUint16(msg[4:], 8080)
	copy(msg[8:], []byte{127, 0, 0, 1})
	binary.NativeEndian.PutUint32(msg[68:], 4242)
	s, err := parseDiagMsg(msg)
	require.NoError(t, err)
	assert.Equal(t, uint16(8080), s.InetDiagMsg.ID.SourcePort)
	assert.Equal(t, "127.0.0.1", s.InetDiagMsg.ID.Source.String())
	assert.Equal(t, uint32(4242), s.InetDiagMsg.INode)
	assert.Nil(t, s.TCPInfo)

	_, err = parseDiagMsg(msg[:inetDiagMsgLen-1])
	assert.ErrorContains(t, err, "inet_diag_msg of 71 bytes")

	// INET_DIAG_INFO claiming more than the message holds.
	attr := make([]byte, 8)
	binary.NativeEndian.PutUint16(attr[0:], 200)
	binary.NativeEndian.PutUint16(attr[2:], inetDiagInfo)
	_, err = parseDiagMsg(append(append([]byte(nil), msg...), attr...))
	assert.ErrorContains(t, err, "attribute 2 of 200 bytes in 8")

	// A tcp_info cut after tcpi_unacked.
	info := make([]byte, 28)
	info[3] = 2                                   // tcpi_probes
	binary.NativeEndian.PutUint32(info[8:], 1000) // tcpi_rto
	binary.NativeEndian.PutUint32(info[24:], 3)   // tcpi_unacked
	binary.NativeEndian.PutUint16(attr[0:], uint16(4+len(info)))
	s, err = parseDiagMsg(append(append(append([]byte(nil), msg...), attr[:4]...), info...))
	require.NoError(t, err)
	require.NotNil(t, s.TCPInfo)
	assert.Equal(t, uint8(2), s.TCPInfo.Probes)
	assert.Equal(t, uint32(1000), s.TCPInfo.Rto)
	assert.Equal(t, uint32(3), s.TCPInfo.Unacked)
	assert.Zero(t, s.TCPInfo.Last_ack_recv, "beyond what the kernel sent")
}

// TestDumpTCPCountsEverySocket: the dump of a private namespace holds
// exactly the sockets made there, across several netlink reads.
func TestDumpTCPCountsEverySocket(t *testing.T) {
	if !keepalivetest.InNetNS(t, nil) {
		return
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	const n = 300 // more than one 64 KiB read
	for range n {
		c, err := net.Dial("tcp4", ln.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		s, err := ln.Accept()
		require.NoError(t, err)
		defer s.Close()
	}
	fd, err := openDiagSocket()
	require.NoError(t, err)
	defer unix.Close(fd)
	socks, err := dumpTCP(fd, unix.AF_INET, 1)
	require.NoError(t, err)
	assert.Len(t, socks, 2*n+1, "both ends of each, and the listener")
	for _, s := range socks {
		require.NotNil(t, s.TCPInfo)
	}
}
