package silence_test

import (
	"net"
	"runtime"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/keepalive-go/keepalive/internal/silence"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// A refused filter must say what was refused and why, and still be EPERM.
// The refusal is the kernel's own: the test drops CAP_NET_ADMIN from the
// effective set of one locked thread (capabilities are per thread), calls
// Peer there and restores it, so nothing outlives the test.
func TestPeerRefused(t *testing.T) {
	_, server := testkit.Pair(t, testkit.Loopbacks(t)[0], nil, (&net.Dialer{}).DialContext)
	err := withoutNetAdmin(t, func() error { return silence.Peer(server) })
	if err == nil {
		t.Skip("skipping: this kernel lets a process without CAP_NET_ADMIN attach a socket filter to a TCP socket: nothing is refused")
	}
	t.Log(err)
	require.ErrorIs(t, err, silence.ErrRefused)
	require.ErrorIs(t, err, syscall.EPERM)
	for _, want := range []string{"SO_ATTACH_FILTER", "operation not permitted", "lacks CAP_NET_ADMIN"} {
		assert.Contains(t, err.Error(), want)
	}
}

// withoutNetAdmin runs fn on this goroutine's thread with CAP_NET_ADMIN
// out of the thread's effective set, if it was there.
func withoutNetAdmin(t *testing.T, fn func() error) error {
	runtime.LockOSThread()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps [2]unix.CapUserData
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("capget: %v", err)
	}
	if caps[0].Effective&(1<<unix.CAP_NET_ADMIN) == 0 {
		runtime.UnlockOSThread()
		return fn()
	}
	dropped := caps
	dropped[0].Effective &^= 1 << unix.CAP_NET_ADMIN
	if err := unix.Capset(&hdr, &dropped[0]); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("capset: %v", err)
	}
	err := fn()
	if rerr := unix.Capset(&hdr, &caps[0]); rerr != nil {
		// Left locked: the thread ends with this goroutine, never reused.
		t.Fatalf("restoring CAP_NET_ADMIN: %v", rerr)
	}
	runtime.UnlockOSThread()
	return err
}
