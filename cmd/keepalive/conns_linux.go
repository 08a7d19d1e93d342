package main

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// idiag_timer values (net/ipv4/inet_diag.c, tcp_diag).
var diagTimers = map[uint8]string{0: "none", 1: "retransmit", 2: "keepalive", 3: "time-wait", 4: "zero-window-probe"}

// listConns dumps the TCP sockets of the network namespace f names with
// sock_diag, finds who holds them and returns those f selects, with notes
// for the reader (what could not be read, and why).
func listConns(f connFilter) ([]connInfo, []string, error) {
	d, err := openDiag(f.netns)
	if err != nil {
		return nil, nil, err
	}
	defer d.Close()
	return d.list(f)
}

func (d *diagNS) list(f connFilter) ([]connInfo, []string, error) {
	var fds map[uint32]int // socket inode -> fd in f.pid
	if f.pid != 0 {
		var err error
		if fds, err = socketInodes(f.pid); err != nil {
			return nil, nil, err
		}
	}
	var out []connInfo
	listeners := map[uint16][]connInfo{} // by local port
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		socks, err := d.dump(family)
		if err != nil {
			return nil, nil, fmt.Errorf("sock_diag dump of TCP sockets: %w", err)
		}
		for _, s := range socks {
			m := s.InetDiagMsg
			if m.State == 10 { // listen: kept to name the listener's holders
				listeners[m.ID.SourcePort] = append(listeners[m.ID.SourcePort], connInfo{Inode: m.INode, id: newSockID(m)})
			}
			if f.port != 0 && int(m.ID.SourcePort) != f.port && int(m.ID.DestinationPort) != f.port {
				continue
			}
			if f.states != nil && !f.states[int(m.State)] {
				continue
			}
			c := connInfo{
				Local:       addrPort(m.ID.Source, m.ID.SourcePort),
				Remote:      addrPort(m.ID.Destination, m.ID.DestinationPort),
				UID:         m.UID,
				Inode:       m.INode,
				Timer:       diagTimers[m.Timer],
				TimerIn:     seconds(time.Duration(m.Expires) * time.Millisecond),
				DiagRetrans: int(m.Retrans),
				Keepalive:   "unknown",
				Holders:     []holder{},
				id:          newSockID(m),
			}
			// A subflow of a Multipath TCP connection. A Multipath TCP
			// listener (Go's default) has one too, and plain TCP clients
			// still get plain TCP connections from it.
			if s.ulp == "mptcp" && m.State != 10 {
				c.MultipathTCP, c.MPTCPCloseTimeout = true, sec(d.mptcpClose)
			}
			if int(m.State) < len(tcpStates) {
				c.State = tcpStates[m.State]
			} else {
				c.State = strconv.Itoa(int(m.State))
			}
			if c.Timer == "" {
				c.Timer = strconv.Itoa(int(m.Timer))
			}
			if c.Timer == "none" {
				c.TimerIn = 0
			}
			if m.State == 10 {
				// A listener's queues are its accept queue and backlog.
				c.AcceptQ, c.Backlog = ptr(m.RQueue), ptr(m.WQueue)
			} else {
				c.RecvQ, c.SendQ = ptr(m.RQueue), ptr(m.WQueue)
			}
			if ti := s.TCPInfo; ti != nil {
				c.Probes, c.Retransmits = int(ti.Probes), int(ti.Retransmits)
				if m.State != 10 { // on a listener tcpi_unacked is the accept queue
					c.Unacked = int(ti.Unacked)
				}
				c.LastDataRecv = sec(time.Duration(ti.Last_data_recv) * time.Millisecond)
				c.LastAckRecv = sec(time.Duration(ti.Last_ack_recv) * time.Millisecond)
				c.RTO = sec(time.Duration(ti.Rto) * time.Microsecond)
				c.RTOBase = c.RTO
				if c.Timer == "retransmit" {
					// Backed off: the model wants the RTO the write
					// started with.
					c.RTOBase = sec(time.Duration(ti.Rto>>min(ti.Backoff, 31)) * time.Microsecond)
				}
				c.Backoff = ptr(int(ti.Backoff))
				c.WindowProbes = windowProbes(c, d.sys.RTOMax)
			}
			// An established socket with SO_KEEPALIVE on always has its
			// keepalive timer pending; without it, no timer runs while
			// nothing is unacknowledged. With data in flight the kernel
			// reports the retransmit timer instead, and we cannot tell.
			if m.State == 1 || m.State == 8 { // established, close-wait
				switch {
				case c.Timer == "keepalive":
					c.Keepalive = "on"
				case c.Timer == "none" && c.Unacked == 0:
					c.Keepalive = "off"
				}
			}
			if f.pid != 0 {
				fd, ok := fds[m.INode]
				if !ok || m.INode == 0 {
					continue
				}
				c.FD = &fd
			}
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b connInfo) int {
		return cmp.Or(cmp.Compare(a.Local, b.Local), cmp.Compare(a.Remote, b.Remote))
	})
	var notes []string
	if f.pid != 0 {
		notes = readOptions(f.pid, out, d.sys, d.mptcpClose)
	} else {
		notes = append(notes, "idle/interval/count/user timeout are per-socket options that sock_diag does not report: add --pid PID to read them")
	}
	n, err := findHolders(out, listeners)
	if err != nil {
		return nil, nil, err
	}
	return out, append(notes, n...), nil
}

// findHolders fills in the holders of conns, and of the listeners they were
// accepted from, in one pass over /proc, and flags the connections that
// nothing will end.
func findHolders(conns []connInfo, listeners map[uint16][]connInfo) ([]string, error) {
	want := map[uint32]bool{}
	for _, c := range conns {
		if c.Inode != 0 {
			want[c.Inode] = true
		}
		for _, l := range listeners[c.id.sport] {
			want[l.Inode] = true
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	scan, err := scanHolders(want)
	if err != nil {
		return nil, fmt.Errorf("finding the processes that hold the sockets: %w", err)
	}
	ppids := map[int]int{}
	for i := range conns {
		c := &conns[i]
		if c.Inode != 0 {
			c.Holders = append(c.Holders, scan.byInode[c.Inode]...)
		}
		if c.State != "listen" {
			for _, l := range listeners[c.id.sport] {
				if l.id.family != c.id.family || (l.id.src != [16]byte{} && l.id.src != c.id.src) {
					continue
				}
				for _, h := range scan.byInode[l.Inode] {
					if !slices.Contains(c.ListenerHolders, h.PID) {
						c.ListenerHolders = append(c.ListenerHolders, h.PID)
					}
				}
			}
		}
		// A process that holds the listener too is the server itself,
		// whatever its parentage: nohup ./server &, or a double-forked
		// daemon whose accepted sockets lack close-on-exec (nginx's
		// accept4 passes only SOCK_NONBLOCK). A left-behind child is one
		// whose listener is gone or held by other processes only.
		var orphans []string
		for j := range c.Holders {
			h := &c.Holders[j]
			if h.Orphaned && (c.State == "listen" || slices.Contains(c.ListenerHolders, h.PID)) {
				h.Orphaned = false
			}
			if h.Orphaned {
				orphans = append(orphans, fmt.Sprintf("%s[%d]", h.Command, h.PID))
			}
		}
		if len(orphans) > 0 {
			c.Flags = append(c.Flags, fmt.Sprintf("held by %s, orphaned: re-parented after the process that started it exited, and it may have inherited the socket (no close-on-exec); its listener is gone or held by other processes", strings.Join(orphans, ", ")))
		}
		if c.State == "listen" || len(c.Holders) == 0 {
			continue
		}
		// A child of the listener's process (sshd's session, systemd's
		// Accept=yes, a pre-fork worker) serves what its parent accepted:
		// the listener's holder is one of its ancestors.
		if len(c.ListenerHolders) > 0 && !slices.ContainsFunc(c.Holders, func(h holder) bool { return descendsFrom(h, c.ListenerHolders, ppids) }) {
			c.Flags = append(c.Flags, fmt.Sprintf("not held by the process that holds its listener (pid %s)", joinInts(c.ListenerHolders)))
		}
	}
	if scan.denied > 0 {
		return []string{fmt.Sprintf("could not read the descriptors of %d process(es) (%v): holders are shown only for processes this user may inspect; run as root to see them all", scan.denied, scan.deniedE)}, nil
	}
	return nil, nil
}

// descendsFrom says whether h's process is one of pids or has one of them
// among its ancestors, following PPID in /proc/PID/stat up to init.
// ppids caches each ancestor's parent for one listing.
func descendsFrom(h holder, pids []int, ppids map[int]int) bool {
	if slices.Contains(pids, h.PID) {
		return true
	}
	for p, n := h.PPID, 0; p > 1 && n < 64; n++ { // bounded: a chain can change while read
		if slices.Contains(pids, p) {
			return true
		}
		next, ok := ppids[p]
		if !ok {
			next = procDetails(p).PPID
			ppids[p] = next
		}
		p = next
	}
	return false
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// dump is one sock_diag dump of family, repeated if the kernel says the
// table changed under it.
func (d *diagNS) dump(family uint8) ([]diagSock, error) {
	var err error
	for range 3 {
		var socks []diagSock
		d.seq++
		socks, err = dumpTCP(d.fd, family, d.seq)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return socks, err
		}
	}
	return nil, err
}

func addrPort(ip net.IP, port uint16) string {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return fmt.Sprintf("%v:%d", ip, port)
	}
	return netip.AddrPortFrom(a.Unmap(), port).String()
}

// socketInodes maps the inode of each socket pid has open to its fd, from
// /proc/<pid>/fd.
func socketInodes(pid int) (map[uint32]int, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("--pid %d: no such process", pid)
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("--pid %d: reading %s: %w: another user's process needs root (CAP_SYS_PTRACE)", pid, dir, err)
	case err != nil:
		return nil, fmt.Errorf("--pid %d: %w", pid, err)
	}
	fds := map[uint32]int{}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil { // closed meanwhile
			continue
		}
		if ino, ok := socketInode([]byte(link)); ok {
			fds[ino] = fd
		}
	}
	return fds, nil
}

// readOptions fills in the keepalive options of pid's sockets: each one is
// duplicated into this process with pidfd_getfd (the duplicate shares the
// socket, so getsockopt reads what the kernel holds for it) and closed
// again. It returns a note if that is not permitted.
func readOptions(pid int, conns []connInfo, sys keepalive.System, mptcpClose time.Duration) []string {
	if len(conns) == 0 {
		return nil
	}
	if err := mayInspect(pid); err != nil {
		return []string{setAllErr(conns, err.Error())}
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return []string{setAllErr(conns, fmt.Sprintf("pidfd_open(%d): %v", pid, err))}
	}
	defer unix.Close(pidfd)
	for i := range conns {
		c := &conns[i]
		fd, err := getSocket(pidfd, *c.FD, c.Inode)
		switch {
		case errors.Is(err, unix.EPERM):
			return []string{setAllErr(conns[i:], fmt.Sprintf("pidfd_getfd: %v: reading the options of process %d's sockets needs ptrace access to it "+
				"(your own process with kernel.yama.ptrace_scope 0, or root / CAP_SYS_PTRACE)", err, pid))}
		case errors.Is(err, unix.ENOSYS):
			return []string{setAllErr(conns[i:], "pidfd_getfd: not in this kernel (Linux 5.6+)")}
		case err != nil: // the fd was closed, or reused, meanwhile
			c.OptionsError = err.Error()
			continue
		}
		cfg, on, mptcp, err := sockOptions(fd)
		if err != nil {
			c.OptionsError = err.Error()
			continue
		}
		j := toJSON(cfg)
		c.Options = &j
		if mptcp {
			c.MultipathTCP = true
			c.MPTCPCloseTimeout = sec(mptcpClose)
		}
		c.Keepalive = "off"
		if on {
			c.Keepalive = "on"
			// The in-flight bounds depend on the namespace's
			// tcp_retries2 and tcp_rto_max_ms.
			if m, err := predict(cfg, sys); err == nil && !mptcp {
				c.Detection = &m
			}
		}
	}
	return nil
}

// getSocket duplicates descriptor fd of the process pidfd refers to, and
// returns the duplicate only if it is still the socket with inode ino: the
// number was read from /proc/PID/fd earlier, and a busy process closes and
// reuses numbers all the time. Otherwise the options read would be
// another socket's.
func getSocket(pidfd, fd int, ino uint32) (int, error) {
	dup, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_getfd(fd %d): %w", fd, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(dup, &st); err != nil {
		unix.Close(dup)
		return -1, fmt.Errorf("fstat of fd %d: %w", fd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Ino != uint64(ino) {
		unix.Close(dup)
		return -1, fmt.Errorf("fd %d is now another socket or file (inode %d, not %d): it was closed and its number reused since it was listed; options unknown", fd, st.Ino, ino)
	}
	return dup, nil
}

func setAllErr(conns []connInfo, msg string) string {
	for i := range conns {
		conns[i].OptionsError = msg
	}
	return msg
}

// sockOptions reads SO_KEEPALIVE and the four values on fd, a socket
// duplicated from another process, and closes fd. os.NewFile leaves the
// socket's blocking mode alone (net.FileConn would make it non-blocking,
// for the other process too).
//
// On a Multipath TCP socket InspectRawConn returns the values with
// ErrMultipathTCP: they are kept, and mptcp is true.
func sockOptions(fd int) (c keepalive.Config, on, mptcp bool, err error) {
	f := os.NewFile(uintptr(fd), "socket")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return keepalive.Config{}, false, false, err
	}
	c, err = keepalive.InspectRawConn(rc)
	switch {
	case errors.Is(err, keepalive.ErrDisabled):
		return c, false, false, nil
	case errors.Is(err, keepalive.ErrMultipathTCP):
		// InspectRawConn does not say whether SO_KEEPALIVE is on there.
		var v int
		var gerr error
		if cerr := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE) }); cerr != nil {
			gerr = cerr
		}
		if gerr != nil {
			return keepalive.Config{}, false, true, fmt.Errorf("getsockopt SO_KEEPALIVE on a Multipath TCP socket: %w", gerr)
		}
		return c, v != 0, true, nil
	}
	return c, err == nil, false, err
}

// holderOptions reads the keepalive options of c through one of its
// holders (pidfd_getfd, as --pid does), and says why if none could be.
func holderOptions(c *connInfo, sys keepalive.System, mptcpClose time.Duration) {
	if len(c.Holders) == 0 {
		c.OptionsError = "no holder to read the options through"
		return
	}
	var errs []string
	for _, h := range c.Holders {
		if err := mayInspect(h.PID); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		pidfd, err := unix.PidfdOpen(h.PID, 0)
		if err != nil {
			errs = append(errs, fmt.Sprintf("pidfd_open(%d): %v", h.PID, err))
			continue
		}
		fd, err := getSocket(pidfd, h.FD, c.Inode)
		unix.Close(pidfd)
		if err != nil {
			errs = append(errs, fmt.Sprintf("pid %d: %v", h.PID, err))
			continue
		}
		cfg, on, mptcp, err := sockOptions(fd)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		j := toJSON(cfg)
		c.Options, c.OptionsError, c.Keepalive = &j, "", "off"
		if mptcp {
			c.MultipathTCP = true
			c.MPTCPCloseTimeout = sec(mptcpClose)
		}
		if on {
			c.Keepalive = "on"
			if m, err := predict(cfg, sys); err == nil && !mptcp {
				c.Detection = &m
			}
		}
		return
	}
	c.OptionsError = strings.Join(errs, "; ")
	if strings.Contains(c.OptionsError, "operation not permitted") {
		c.OptionsError += ": reading another process's socket options needs ptrace access to it (root)"
	}
}

func (d *diagNS) system() keepalive.System { return d.sys }
func (d *diagNS) options(c *connInfo)      { holderOptions(c, d.sys, d.mptcpClose) }
func (d *diagNS) end(c connInfo) error {
	if err := mayEnd(c.UID); err != nil {
		return err
	}
	return d.destroy(c.id)
}
func openInspector(netns string) (inspector, error) { return openDiag(netns) }
