package testkit

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const envNetNS = "KEEPALIVE_TESTKIT_NETNS"

// InNetNS runs the calling test again, alone, in a fresh process inside a
// private network namespace with loopback up and the given sysctls (names
// like "net/ipv4/tcp_retries2") written, so the test can change them
// without touching the host. It returns true in that process, where the
// test goes on, and false in the calling one, after the run has passed (or
// the test has been failed with its output). It skips the test where no
// namespace can be made (not root).
func InNetNS(t *testing.T, sysctls map[string]string) bool {
	t.Helper()
	if os.Getenv(envNetNS) == t.Name() {
		if err := loopbackUp(); err != nil {
			t.Fatalf("bringing lo up in the network namespace: %v", err)
		}
		for name, v := range sysctls {
			if err := os.WriteFile("/proc/sys/"+name, []byte(v), 0o644); err != nil {
				t.Fatalf("setting sysctl %s=%s in the network namespace: %v", name, v, err)
			}
		}
		return true
	}
	if os.Geteuid() != 0 {
		Skip(t, "skipping: a private network namespace needs root")
	}
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.v", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), envNetNS+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) {
		Skip(t, "skipping: cannot create a network namespace here: "+err.Error())
	}
	if err != nil {
		t.Fatalf("run in a private network namespace failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("run in a private network namespace did not pass %s:\n%s", t.Name(), out)
	}
	t.Logf("in a private network namespace:\n%s", out)
	return false
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
