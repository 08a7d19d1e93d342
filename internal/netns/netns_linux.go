// Package netns sets up a network namespace a process was started in:
// loopback up, sysctls written. keepalivetest and the project's test
// programs share it.
package netns

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// LoopbackUp brings lo up, as a new network namespace has it down.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bringing lo up in the network namespace: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bringing lo up in the network namespace: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up in the network namespace: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up in the network namespace: %w", err)
	}
	return nil
}

// Sysctl writes a sysctl named as under /proc/sys ("net/ipv4/tcp_retries2").
func Sysctl(name, value string) error {
	if err := os.WriteFile("/proc/sys/"+name, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s in the network namespace: %w", name, value, err)
	}
	return nil
}
