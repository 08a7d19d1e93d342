package itest

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Socket is a duplicate of the file descriptor of a connection a driver
// dialed. It keeps the kernel's socket, and so its TCP_INFO, readable after
// the driver has closed its net.Conn, which drivers do as soon as a read
// fails. It reads only TCP_INFO, never SO_ERROR (that would take the
// socket's pending error away from the driver).
//
// While it is open, the driver closing its net.Conn sends nothing to the
// peer: the socket stays in whatever state the kernel put it in, so a FIN
// from the peer would leave it CLOSE_WAIT, not CLOSE.
type Socket struct {
	fd int
	// driverFD is the driver's own descriptor and ino, dev the socket's
	// inode: Released looks whether that descriptor still refers to it.
	driverFD int
	ino      uint64
	dev      uint64
}

// Dup duplicates conn's descriptor; the duplicate is closed when the test ends.
func Dup(t testing.TB, conn net.Conn) *Socket {
	t.Helper()
	sc, ok := conn.(syscall.Conn)
	if !ok {
		t.Fatalf("%T has no file descriptor", conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd, driverFD, derr := -1, -1, error(nil)
	if err := rc.Control(func(s uintptr) {
		driverFD = int(s)
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		t.Fatal(err)
	}
	if derr != nil {
		t.Fatalf("dup: %v", derr)
	}
	t.Cleanup(func() { unix.Close(fd) })
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatalf("fstat: %v", err)
	}
	return &Socket{fd: fd, driverFD: driverFD, ino: st.Ino, dev: st.Dev}
}

// Released reports whether the driver has closed its descriptor of the
// socket: the descriptor is closed, or its number now refers to another
// file (a new connection may have got it; the duplicate keeps this
// socket's inode from being reused meanwhile).
func (s *Socket) Released() bool {
	var st unix.Stat_t
	if err := unix.Fstat(s.driverFD, &st); err != nil {
		return true // EBADF
	}
	return st.Ino != s.ino || st.Dev != s.dev
}

// WaitReleased polls, for up to bound, until the driver has closed its
// descriptor of the socket, and reports whether it has.
func (s *Socket) WaitReleased(bound time.Duration) bool {
	deadline := time.Now().Add(bound)
	for !s.Released() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// Info reads the socket's TCP_INFO.
func (s *Socket) Info() (*unix.TCPInfo, error) {
	return unix.GetsockoptTCPInfo(s.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
}

// readSlop is the most a TCP_INFO reading may take for Quiesce to date the
// last segment by it.
const readSlop = time.Millisecond

// Quiet is what a Socket looked like once its peer had gone silent.
type Quiet struct {
	// LastRecv is when the socket last received a segment, by the
	// kernel's own stamps (tcpi_last_data_recv, tcpi_last_ack_recv): the
	// time Linux counts Idle from, read to the millisecond.
	LastRecv time.Time
}

// Quiesce waits, for up to bound, until the socket has nothing
// unacknowledged (once the peer is silent nothing it sends afterwards is
// acknowledged, so a late ACK from before cannot arrive later and count
// as a segment from the dead peer), then returns what it looked like.
func (s *Socket) Quiesce(bound time.Duration) (Quiet, error) {
	deadline := time.Now().Add(bound)
	for {
		before := time.Now()
		info, err := s.Info()
		if err != nil {
			return Quiet{}, err
		}
		now := time.Now()
		// The kernel's "ms ago" is relative to when it answered, somewhere
		// between before and now. Counted back from now, a reading this
		// goroutine was descheduled around put LastRecv that much too late,
		// and every time counted from it too short (an idle drop came
		// "sooner than the model"). So count back from before, which is
		// never late, and take a reading again when it took over readSlop.
		if info.Unacked == 0 && now.Sub(before) <= readSlop {
			since := time.Duration(min(info.Last_data_recv, info.Last_ack_recv)) * time.Millisecond
			return Quiet{LastRecv: before.Add(-since)}, nil
		}
		if now.After(deadline) {
			if info.Unacked == 0 {
				return Quiet{}, fmt.Errorf("no TCP_INFO reading took under %v within %v: the machine is too busy to date the last segment", readSlop, bound)
			}
			return Quiet{}, fmt.Errorf("%d segments still unacknowledged after %v: data went out after the peer went silent", info.Unacked, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitDropped polls the socket until the kernel no longer holds it
// ESTABLISHED, or bound has passed since start. It returns how long after
// start that was and whether it was dropped. (The driver closing its
// net.Conn does not count: the duplicate keeps the socket as the kernel
// left it.)
func (s *Socket) WaitDropped(start time.Time, bound time.Duration) (time.Duration, bool, error) {
	for {
		// ESTABLISHED in a reading means ESTABLISHED when the reading began
		// (the state never goes back): compare the bound with that time, not
		// with one taken after a wait for a core. A drop is timed when the
		// reading ended, so it is never dated sooner than it happened.
		before := time.Now()
		info, err := s.Info()
		if err != nil {
			return time.Since(start), false, err
		}
		if info.State != unix.BPF_TCP_ESTABLISHED {
			return time.Since(start), true, nil
		}
		if before.Sub(start) > bound {
			return before.Sub(start), false, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitInFlight polls the socket until it has sent data the peer has not
// acknowledged, for up to bound, and reports whether it has. While it has,
// the kernel sends no keepalive probes: UserTimeout (or tcp_retries2)
// decides, not the idle timers.
func (s *Socket) WaitInFlight(bound time.Duration) (bool, error) {
	deadline := time.Now().Add(bound)
	for {
		info, err := s.Info()
		if err != nil {
			return false, err
		}
		if info.Unacked > 0 {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitQuiet waits, for up to bound, until the connection has carried no
// data either way for quiet and has nothing unacknowledged. A driver may
// still write after its response is in, such as gRPC's flow-control and
// BDP PING frames; silenced in the middle of that, the connection would
// not be idle but have data in flight, and time out by retransmission,
// not by keepalive.
func (s *Socket) WaitQuiet(quiet, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for {
		info, err := s.Info()
		if err != nil {
			return err
		}
		ms := uint32(quiet / time.Millisecond)
		if info.Unacked == 0 && info.Last_data_sent >= ms && info.Last_data_recv >= ms {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the connection still carried data within %v (last sent %d ms, last received %d ms ago, %d segments unacknowledged) after %v",
				quiet, info.Last_data_sent, info.Last_data_recv, info.Unacked, bound)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
