//go:build !linux

package keepalivetest

// InNetNS runs the calling test again in a network namespace of its own.
// It needs Linux: elsewhere it skips the test.
func InNetNS(t TB, _ map[string]string) bool {
	t.Helper()
	t.Skip(unsupported("InNetNS (network namespaces)").Error())
	return false
}

// Rerun runs this program again in a network namespace of its own. It
// needs Linux: elsewhere it returns an error wrapping errors.ErrUnsupported.
func Rerun(...string) (int, error) { return 0, unsupported("Rerun (network namespaces)") }
