package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// holderScan is who holds which socket, from one pass over /proc/*/fd.
type holderScan struct {
	byInode map[uint32][]holder
	denied  int   // processes whose descriptors this process may not read
	deniedE error // the first such error
}

// scanHolders finds the processes holding the sockets in want, as ss -p
// does: a socket's descriptors read back as "socket:[inode]". It reads
// each process's fd directory once, with readlinkat relative to it, and
// keeps only the inodes asked for; the per-process details are read only
// for the processes found.
func scanHolders(want map[uint32]bool) (holderScan, error) {
	s := holderScan{byInode: map[uint32][]holder{}}
	proc, err := os.Open("/proc")
	if err != nil {
		return s, err
	}
	names, err := proc.Readdirnames(-1)
	proc.Close()
	if err != nil {
		return s, fmt.Errorf("listing /proc: %w", err)
	}
	buf := make([]byte, 64)
	found := map[int]bool{}
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		dirfd, err := unix.Open("/proc/"+name+"/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
				s.denied++
				if s.deniedE == nil {
					s.deniedE = fmt.Errorf("/proc/%d/fd: %w", pid, err)
				}
			}
			continue // or exited meanwhile
		}
		fds := readDirNames(dirfd)
		for _, fdName := range fds {
			n, err := unix.Readlinkat(dirfd, fdName, buf)
			if err != nil {
				continue // closed meanwhile
			}
			ino, ok := socketInode(buf[:n])
			if !ok || !want[ino] {
				continue
			}
			fd, _ := strconv.Atoi(fdName)
			s.byInode[ino] = append(s.byInode[ino], holder{PID: pid, FD: fd})
			found[pid] = true
		}
		unix.Close(dirfd)
	}
	info := map[int]holder{}
	for pid := range found {
		info[pid] = procDetails(pid)
	}
	for ino, hs := range s.byInode {
		for i := range hs {
			fd := hs[i].FD
			hs[i] = info[hs[i].PID]
			hs[i].FD = fd
			// An orphan that opened the socket itself (close-on-exec, as Go
			// and Python do by default) is no left-behind child.
			hs[i].Orphaned = hs[i].Orphaned && !closeOnExec(hs[i].PID, fd)
		}
		s.byInode[ino] = hs
	}
	return s, nil
}

// readDirNames lists the directory open at dirfd without closing it.
func readDirNames(dirfd int) []string {
	d, err := unix.Dup(dirfd)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(d), "fd")
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return names
}

var socketPrefix = []byte("socket:[")

// socketInode parses a descriptor's link, "socket:[12345]".
func socketInode(link []byte) (uint32, bool) {
	rest, ok := bytes.CutPrefix(link, socketPrefix)
	if !ok || len(rest) < 2 || rest[len(rest)-1] != ']' {
		return 0, false
	}
	var n uint64
	for _, c := range rest[:len(rest)-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > 1<<32-1 {
			return 0, false
		}
	}
	return uint32(n), true
}

// procDetails reads a process's command, parent and whether it is an
// orphan from /proc/PID/stat. A process is counted as orphaned when it was
// re-parented to init (parent pid 1) or its process group's leader has
// exited, and it does not lead a group itself: that is what a child that
// inherited a server's socket looks like after the server was killed. A
// daemon, which leads its own session, is not flagged; scanHolders also
// clears it for a descriptor with close-on-exec, which was not inherited.
func procDetails(pid int) holder {
	h := holder{PID: pid, Command: "?"}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return h
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return h
	}
	h.Command = string(b[open+1 : end])
	f := bytes.Fields(b[end+1:])
	if len(f) < 3 {
		return h
	}
	h.PPID, _ = strconv.Atoi(string(f[1]))
	pgrp, _ := strconv.Atoi(string(f[2]))
	if pgrp != pid && pgrp > 0 {
		_, err := os.Stat("/proc/" + strconv.Itoa(pgrp))
		h.Orphaned = h.PPID == 1 || errors.Is(err, os.ErrNotExist)
	}
	return h
}

// closeOnExec reads whether a process's descriptor has O_CLOEXEC, from
// /proc/PID/fdinfo/FD. A descriptor that crossed an exec has not: that is
// how it survived it.
func closeOnExec(pid, fd int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return false
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("flags:")); ok {
			flags, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 8, 64)
			return err == nil && flags&unix.O_CLOEXEC != 0
		}
	}
	return false
}
