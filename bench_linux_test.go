//go:build linux

package keepalive_test

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// The same three values plus SO_KEEPALIVE on an existing connection: this
// package, the standard library, and the floor (the four raw setsockopt
// calls in one RawConn.Control).
func BenchmarkApply(b *testing.B) {
	client, _ := testkit.Pair(b, testkit.Loopbacks(b)[0], nil, plainDial)
	tc := client.(*net.TCPConn)
	b.Run("keepalive", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := noUT.Apply(client); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("std", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := tc.SetKeepAliveConfig(stdKeepAlive); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		idle, intvl := int(noUT.Idle.Seconds()), int(noUT.Interval.Seconds())
		for b.Loop() {
			rc, err := tc.SyscallConn()
			if err != nil {
				b.Fatal(err)
			}
			var serr [4]error
			if err := rc.Control(func(fd uintptr) {
				serr[0] = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
				serr[1] = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, idle)
				serr[2] = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, intvl)
				serr[3] = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPCNT, noUT.Count)
			}); err != nil || serr != [4]error{} {
				b.Fatal(err, serr)
			}
		}
	})
}

func BenchmarkControl(b *testing.B) {
	client, _ := testkit.Pair(b, testkit.Loopbacks(b)[0], nil, plainDial)
	rc, err := client.(*net.TCPConn).SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := full.Control("tcp4", "", rc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInspect(b *testing.B) {
	client, _ := testkit.Pair(b, testkit.Loopbacks(b)[0], nil, plainDial)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keepalive.Inspect(client); err != nil && err != keepalive.ErrDisabled {
			b.Fatal(err)
		}
	}
}
