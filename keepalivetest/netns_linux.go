package keepalivetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/keepalive-go/keepalive/internal/netns"
	"golang.org/x/sys/unix"
)

// The environment of a process started in a namespace: the test to run
// ("-" for a program, see Command) and the sysctls to write.
const (
	envNetNS   = "KEEPALIVETEST_NETNS"
	envSysctls = "KEEPALIVETEST_SYSCTLS"
)

// inside is what init found: the test this process runs in a namespace
// ("" if none) and how setting the namespace up went.
var inside struct {
	name string
	err  error
}

func init() {
	name := os.Getenv(envNetNS)
	if name == "" {
		return
	}
	sysctls := os.Getenv(envSysctls)
	os.Unsetenv(envNetNS) // not for the processes this one starts
	os.Unsetenv(envSysctls)
	inside.name, inside.err = name, setUp(sysctls)
}

// setUp brings loopback up and writes the sysctls ("name=value" lines),
// only in a process InNetNS or Rerun started: not one the environment
// alone asks (a set-user-ID or file-capability program importing this
// package would write as root), and not in its parent's namespace.
func setUp(sysctls string) error {
	if err := startedByUs(); err != nil {
		return err
	}
	if err := netns.LoopbackUp(); err != nil {
		return fmt.Errorf("keepalivetest: %w", err)
	}
	for line := range strings.SplitSeq(sysctls, "\n") {
		name, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if !sysctlName.MatchString(name) || strings.Contains(name, "..") {
			return fmt.Errorf("keepalivetest: %q is not a network sysctl (net/...)", name)
		}
		if err := netns.Sysctl(name, v); err != nil {
			return fmt.Errorf("keepalivetest: %w", err)
		}
	}
	return nil
}

// sysctlName is a per-namespace network sysctl: the only kind a namespace
// of the test's own has.
var sysctlName = regexp.MustCompile(`^net/[a-z0-9_/.-]+$`)

// startedByUs refuses a process the kernel started with privileges its
// user lacks (AT_SECURE: set-user-ID, file capabilities), and one in the
// same network namespace as its parent.
func startedByUs() error {
	if secureExec() {
		return errors.New("keepalivetest: " + envNetNS + " is ignored in a set-user-ID or file-capability program")
	}
	self, err1 := os.Readlink("/proc/self/ns/net")
	parent, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", os.Getppid()))
	if err1 == nil && err2 == nil && self == parent {
		return errors.New("keepalivetest: " + envNetNS + " set, but this process is in its parent's network namespace: not started by InNetNS or Rerun")
	}
	return nil
}

// secureExec reports AT_SECURE: the kernel ran this program with more
// privilege than its user's.
func secureExec() bool {
	if os.Getuid() != os.Geteuid() || os.Getgid() != os.Getegid() {
		return true
	}
	auxv, err := unix.Auxv()
	if err != nil {
		return true // cannot tell: assume the worst
	}
	for _, kv := range auxv {
		if kv[0] == 23 { // AT_SECURE
			return kv[1] != 0
		}
	}
	return false
}

// InNetNS runs the calling test again, alone, in a new process inside a
// network namespace of its own, with loopback up and sysctls written
// ("net/ipv4/tcp_retries2": "3"). Run by a user other than root, the
// namespace is also a new user namespace in which that user is root, so
// Silence works there without privileges. It returns true in that
// process, where the test goes on, and false in the calling one once the
// run has passed (its output logged), failed, or skipped (then the test
// skips too). Where the kernel refuses the namespace it skips with the
// sysctl or policy that refused, and fails under CI.
//
//	if !keepalivetest.InNetNS(t, nil) {
//		return
//	}
func InNetNS(t TB, sysctls map[string]string) bool {
	t.Helper()
	if inside.name == t.Name() {
		if inside.err != nil {
			t.Fatal(inside.err)
		}
		return true
	}
	var env strings.Builder
	for name, v := range sysctls {
		if name == "" || strings.ContainsAny(name, "=\n") || strings.Contains(name, "..") || strings.ContainsRune(v, '\n') {
			t.Fatalf("keepalivetest: InNetNS: sysctl %q=%q: want a name under /proc/sys such as net/ipv4/tcp_retries2 and a one-line value", name, v)
		}
		fmt.Fprintf(&env, "%s=%s\n", name, v)
	}
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	timeout := 10 * time.Minute
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			timeout = time.Until(dl)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.v", "-test.count=1", "-test.timeout="+timeout.String())
	cmd.Env = append(os.Environ(), envNetNS+"="+t.Name(), envSysctls+"="+env.String())
	cmd.SysProcAttr = namespaceAttr()
	out, err := cmd.CombinedOutput()
	if err != nil && cmd.ProcessState == nil {
		skip(t, "skipping: cannot make a network namespace: "+refusal(err).Error())
	}
	name := regexp.QuoteMeta(t.Name())
	switch {
	case regexp.MustCompile(`(?m)^\s*--- SKIP: ` + name + ` `).Match(out):
		t.Skipf("skipped in the network namespace:\n%s", out)
	case err != nil || !regexp.MustCompile(`(?m)^\s*--- PASS: `+name+` `).Match(out):
		t.Fatalf("in the network namespace (%v):\n%s", err, out)
	}
	t.Logf("in a network namespace:\n%s", out)
	return false
}

// Rerun runs this program again with args, its standard streams the
// caller's, in a new user and network namespace (only a network namespace
// when run by root) with loopback up, and returns its exit code: a
// program can then Silence its own peers without privileges. The program
// must import this package, whose init sets the namespace up. Where the
// kernel forbids the namespace the error names the sysctl or policy; a
// process Rerun started may not Rerun.
func Rerun(args ...string) (int, error) {
	if inside.name != "" {
		return 0, errors.New("keepalivetest: Rerun: this process runs in a namespace of its own already")
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("keepalivetest: Rerun: %w", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envNetNS+"=-")
	cmd.SysProcAttr = namespaceAttr()
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), nil
	case err != nil:
		return 0, fmt.Errorf("keepalivetest: Rerun in a user and network namespace: %w", refusal(err))
	}
	return 0, nil
}

func refusal(err error) error {
	if err == nil || !(errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EUSERS)) {
		return err
	}
	why := forbidden()
	if why == "" {
		why = "no sysctl forbids it: a seccomp filter (a container's default profile) or a security module does; the test needs an unprivileged user namespace or root"
	}
	return fmt.Errorf("%w: %s", err, why)
}

// procSys is where forbidden reads the sysctls (a test points it elsewhere).
var procSys = "/proc/sys"

// forbidden names the sysctls that keep this user from making a user
// namespace, or "".
func forbidden() string {
	read := func(name string) string {
		b, err := os.ReadFile(procSys + "/" + name)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	var why []string
	if read("kernel/unprivileged_userns_clone") == "0" {
		why = append(why, "kernel.unprivileged_userns_clone=0 (Debian, older Ubuntu: sysctl -w kernel.unprivileged_userns_clone=1)")
	}
	if read("user/max_user_namespaces") == "0" {
		why = append(why, "user.max_user_namespaces=0 (sysctl -w user.max_user_namespaces=1000)")
	}
	if read("kernel/apparmor_restrict_unprivileged_userns") == "1" {
		why = append(why, "kernel.apparmor_restrict_unprivileged_userns=1 (AppArmor, Ubuntu 23.10+: an AppArmor profile allowing userns for the test binary, or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)")
	}
	return strings.Join(why, "; ")
}

// namespaceAttr starts a child in a new network namespace and, for a
// user other than root, a new user namespace mapping that user to root.
func namespaceAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if uid := os.Geteuid(); uid != 0 {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	return attr
}

// skip skips t with msg, but fails it under CI (CI set), which must run
// every test.
func skip(t TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (under CI this test must run)")
	}
	t.Skip(msg)
}
