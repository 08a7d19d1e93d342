package testkit

import (
	"fmt"

	"github.com/keepalive-go/keepalive/internal/netns"
)

// SetUpNetNS prepares a private network namespace for a program (not a
// test) that was started in one, for example by exec with CLONE_NEWNET in
// its SysProcAttr: it brings loopback up and writes the sysctls (names like
// "net/ipv4/tcp_retries2"). Tests use keepalivetest.InNetNS instead.
func SetUpNetNS(sysctls map[string]string) error {
	if err := netns.LoopbackUp(); err != nil {
		return fmt.Errorf("testkit: %w", err)
	}
	for name, v := range sysctls {
		if err := netns.Sysctl(name, v); err != nil {
			return fmt.Errorf("testkit: %w", err)
		}
	}
	return nil
}
