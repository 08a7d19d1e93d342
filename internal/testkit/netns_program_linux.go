package testkit

import (
	"fmt"
	"golang.org/x/sys/unix"
	"os"
)

// SetUpNetNS prepares a private network namespace for a program (not a
// test) that was started in one, for example by exec with CLONE_NEWNET in
// its SysProcAttr: it brings loopback up and writes the sysctls (names like
// "net/ipv4/tcp_retries2"). Tests use keepalivetest.InNetNS instead.
func SetUpNetNS(sysctls map[string]string) error {
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("testkit: bringing lo up in the network namespace: %w", err)
	}
	for name, v := range sysctls {
		if err := os.WriteFile("/proc/sys/"+name, []byte(v), 0o644); err != nil {
			return fmt.Errorf("testkit: setting sysctl %s=%s in the network namespace: %w", name, v, err)
		}
	}
	return nil
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
