// Package deadpeer is the tests' policy around keepalivetest.Silence: skip
// where this process may not silence a peer, but fail under CI. (It is not
// in testkit, which the root package's internal tests import, and which
// therefore cannot import keepalivetest.)
package deadpeer

import (
	"errors"
	"net"
	"testing"

	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

// Silence silences conn with keepalivetest.Silence. Where this process
// may not (the kernel refuses the filter, or the OS has none) it skips the
// test with the reason and how to run it, through testkit.Skip, so it
// fails under CI; any other error fails the test.
func Silence(t testing.TB, conn net.Conn) {
	t.Helper()
	err := keepalivetest.Silence(conn)
	switch {
	case err == nil:
	case errors.Is(err, keepalivetest.ErrRefused):
		testkit.Skip(t, "skipping, no dead peer: "+err.Error()+
			"; to run it: as root, or wrap the test in keepalivetest.InNetNS")
	case errors.Is(err, errors.ErrUnsupported):
		testkit.Skip(t, "skipping, no dead peer: "+err.Error())
	default:
		t.Fatalf("silencing the peer: %v", err)
	}
}
