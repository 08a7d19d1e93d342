package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// envDropped marks the process dropPrivileges re-executed, so that it does
// not loop when the kernel keeps a capability it was asked to drop.
const envDropped = "KEEPALIVE_PRIVILEGES_DROPPED"

// dropPrivileges makes the command act with its real user's rights only.
// Run by root it changes nothing. Run by another user from a binary with
// file capabilities (setcap) or set-user-ID, it keeps of what that gave
// only need (CAP_NET_ADMIN for why --kill and the demo, on sockets the
// command checks are the user's own) and drops the rest, so that reading
// other users' descriptors (/proc/PID/fd), their sockets' options
// (pidfd_getfd) and entering namespaces (setns) take what the user could
// do without the binary. Capabilities are per thread, and the Go runtime
// has started several threads by now: the calling thread lowers its own
// and re-executes the binary with no_new_privs, which keeps the file from
// granting more than that thread still holds, and the new process's every
// thread starts with that.
func dropPrivileges(args []string) error {
	ruid, rgid := os.Getuid(), os.Getgid()
	if ruid == 0 {
		return nil
	}
	var need uint64
	if keepsNetAdmin(args) {
		need = 1 << unix.CAP_NET_ADMIN
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	permitted := uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	extra := permitted &^ need
	setid := os.Geteuid() != ruid || os.Getegid() != rgid
	if extra == 0 && !setid {
		return nil
	}
	if os.Getenv(envDropped) != "" {
		return fmt.Errorf("still holding capabilities %#x (uid %d, euid %d) after dropping them", extra, ruid, os.Geteuid())
	}
	runtime.LockOSThread() // for good: the thread's credentials are changed, then it execs
	keep := permitted & need
	data[0] = unix.CapUserData{Effective: uint32(keep), Permitted: uint32(keep)}
	data[1] = unix.CapUserData{Effective: uint32(keep >> 32), Permitted: uint32(keep >> 32)}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_NO_NEW_PRIVS: %w", err)
	}
	env := append(os.Environ(), envDropped+"=1")
	return fmt.Errorf("re-executing with the real user's rights: %w", unix.Exec("/proc/self/exe", os.Args, env))
}

// keepsNetAdmin says whether the command line needs CAP_NET_ADMIN: why
// --kill (SOCK_DESTROY) and the demo (a socket filter on its own peer).
func keepsNetAdmin(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "demo":
		return true
	case "why":
		for _, a := range args[1:] {
			if n := strings.TrimLeft(a, "-"); n == "kill" || strings.HasPrefix(n, "kill=") {
				return true
			}
		}
	}
	return false
}

// mayEnd says whether this user may end a socket that uid owns: root any,
// others only their own. The kernel asks only for CAP_NET_ADMIN, which a
// binary's file capability gives every user alike.
func mayEnd(uid uint32) error {
	if me := os.Getuid(); me != 0 && uint32(me) != uid {
		return fmt.Errorf("the socket is owned by uid %d, not by you (uid %d): only root may end another user's connection", uid, me)
	}
	return nil
}

// mayInspect says whether this user may read process pid's descriptors:
// root any, others only processes whose real, effective and saved user
// IDs are all theirs, as the kernel's own ptrace check asks of a user
// without capabilities.
func mayInspect(pid int) error {
	me := os.Getuid()
	if me == 0 {
		return nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(v)
			if len(f) < 3 {
				break
			}
			for _, s := range f[:3] {
				if s != strconv.Itoa(me) {
					return fmt.Errorf("process %d belongs to uid %s, not to you (uid %d): reading its sockets needs root", pid, f[0], me)
				}
			}
			return nil
		}
	}
	return fmt.Errorf("process %d: no Uid line in /proc/%d/status", pid, pid)
}
