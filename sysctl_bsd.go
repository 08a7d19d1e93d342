//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package keepalive

import "golang.org/x/sys/unix"

// sysctl reads an integer sysctl with sysctl(3).
func sysctl(name string) (int, error) {
	v, err := unix.SysctlUint32(name)
	return int(v), err
}
