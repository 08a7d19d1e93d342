package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/keepalive-go/keepalive"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// diagNS is a network namespace to query: a sock_diag handle and a netlink
// socket for SOCK_DESTROY made inside it (a socket stays in the namespace
// it was created in), and the namespace's sysctls.
type diagNS struct {
	name string // "" for the command's own
	h    *netlink.Handle
	sys  keepalive.System
}

// openDiag opens the sock_diag handle in the namespace spec names ("" for
// the current one) and reads that namespace's keepalive sysctls. It enters
// the namespace with setns on a locked OS thread and leaves it again.
func openDiag(spec string) (*diagNS, error) {
	d := &diagNS{name: spec}
	open := func() error {
		var err error
		if d.h, err = netlink.NewHandle(unix.NETLINK_INET_DIAG); err != nil {
			return fmt.Errorf("opening a sock_diag socket: %w", err)
		}
		if d.sys, err = keepalive.ReadSystem(); err != nil {
			d.h.Close()
			return err
		}
		return nil
	}
	if spec == "" {
		return d, open()
	}
	return d, inNetNS(spec, open)
}

func (d *diagNS) Close() { d.h.Close() }

// inNetNS runs fn with the calling goroutine's thread in the namespace
// spec names.
func inNetNS(spec string, fn func() error) error {
	path, err := netnsPath(spec)
	if err != nil {
		return err
	}
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("--netns %s: %s does not exist (no such process, or no namespace of that name: ip netns list)", spec, path)
	case err != nil:
		return fmt.Errorf("--netns %s: %w", spec, &os.PathError{Op: "open", Path: path, Err: err})
	}
	defer unix.Close(target)
	runtime.LockOSThread()
	own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("--netns: opening this thread's namespace: %w", err)
	}
	defer unix.Close(own)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("--netns %s: setns: %w: entering another network namespace needs CAP_SYS_ADMIN (run as root)", spec, err)
		}
		return fmt.Errorf("--netns %s: setns: %w", spec, err)
	}
	ferr := fn()
	if err := unix.Setns(own, unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so the runtime ends it with the goroutine.
		return fmt.Errorf("--netns %s: returning to this process's namespace: %w", spec, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

func newSockID(m *netlink.Socket) sockID {
	id := sockID{family: m.Family, sport: m.ID.SourcePort, dport: m.ID.DestinationPort, ifindex: m.ID.Interface, cookie: m.ID.Cookie}
	if m.Family == unix.AF_INET {
		copy(id.src[:], m.ID.Source.To4())
		copy(id.dst[:], m.ID.Destination.To4())
	} else {
		copy(id.src[:], m.ID.Source.To16())
		copy(id.dst[:], m.ID.Destination.To16())
	}
	return id
}

// destroy ends the socket with a SOCK_DESTROY request, as ss -K does: the
// kernel aborts it (tcp_abort), sends the peer a reset and fails the
// holders' next calls with ECONNABORTED. netlink.Handle.SocketDestroy
// handles IPv4 only and ignores the cookie, hence the request by hand.
func (d *diagNS) destroy(id sockID) error {
	var fd int
	mk := func() (err error) {
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_INET_DIAG)
		return err
	}
	var err error
	if d.name == "" {
		err = mk()
	} else {
		err = inNetNS(d.name, mk)
	}
	if err != nil {
		return os.NewSyscallError("socket AF_NETLINK", err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return os.NewSyscallError("setsockopt SO_RCVTIMEO", err)
	}
	const sockDestroy = 21 // SOCK_DESTROY, include/uapi/linux/sock_diag.h
	// nlmsghdr (16) + inet_diag_req_v2 (8) + inet_diag_sockid (48).
	msg := make([]byte, unix.NLMSG_HDRLEN+56)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], sockDestroy)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	ne.PutUint32(msg[8:], 1) // sequence
	r := msg[unix.NLMSG_HDRLEN:]
	r[0], r[1] = id.family, unix.IPPROTO_TCP
	ne.PutUint32(r[4:], 0xffffffff) // every state
	binary.BigEndian.PutUint16(r[8:], id.sport)
	binary.BigEndian.PutUint16(r[10:], id.dport)
	copy(r[12:28], id.src[:])
	copy(r[28:44], id.dst[:])
	ne.PutUint32(r[44:], id.ifindex)
	ne.PutUint32(r[48:], id.cookie[0])
	ne.PutUint32(r[52:], id.cookie[1])
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("sendto SOCK_DESTROY", err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return os.NewSyscallError("recvfrom SOCK_DESTROY reply", err)
	}
	if n < unix.NLMSG_HDRLEN+4 || ne.Uint16(buf[4:]) != unix.NLMSG_ERROR {
		return fmt.Errorf("SOCK_DESTROY: unexpected reply from the kernel (%d bytes)", n)
	}
	errno := -int32(ne.Uint32(buf[unix.NLMSG_HDRLEN:]))
	switch e := unix.Errno(errno); {
	case errno == 0:
		return nil
	case e == unix.EPERM || e == unix.EACCES:
		return fmt.Errorf("SOCK_DESTROY: %w: ending a connection needs CAP_NET_ADMIN in its network namespace (run as root: sudo keepalive why --kill ...)", e)
	case e == unix.EOPNOTSUPP:
		return fmt.Errorf("SOCK_DESTROY: %w: this kernel was built without CONFIG_INET_DIAG_DESTROY; ending the holder process closes the connection instead", e)
	case e == unix.ENOENT:
		return fmt.Errorf("SOCK_DESTROY: %w: the connection is gone already", e)
	default:
		return fmt.Errorf("SOCK_DESTROY: %w", e)
	}
}
