//go:build !linux

package testkit

import "testing"

// InNetNS needs Linux network namespaces; elsewhere it skips the test.
func InNetNS(t *testing.T, _ map[string]string) bool {
	t.Skip("skipping: private network namespaces need Linux")
	return false
}
