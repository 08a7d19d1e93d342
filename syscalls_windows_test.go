package keepalive

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/keepalive-go/keepalive/internal/testkit"
)

// The Windows code run for real: CI runs these under Wine (.ci/wine), once
// as Windows 7 and once as Windows 10. Wine emulates the Windows socket API
// over Linux sockets; what it lacks is skipped or checked as refused, naming
// Wine.

func TestWindowsVariantFollowsTheVersion(t *testing.T) {
	t.Parallel()
	v := windows.RtlGetVersion()
	want := &windowsPlatform
	if v.MajorVersion < 10 || v.BuildNumber < 16299 {
		want = &windowsSIOPlatform
	}
	assert.Same(t, want, host(), "Windows %d.%d build %d", v.MajorVersion, v.MinorVersion, v.BuildNumber)
	t.Logf("Windows %d.%d build %d: %s", v.MajorVersion, v.MinorVersion, v.BuildNumber, host().name)
	// .ci/wine/exec picks the version Wine reports by the program's name.
	if wine := testkit.Wine(); wine != "" {
		switch filepath.Base(os.Args[0]) {
		case "win7.exe":
			assert.Equal(t, [3]uint32{6, 1, 7601}, [3]uint32{v.MajorVersion, v.MinorVersion, v.BuildNumber}, "Wine %s as win7", wine)
		case "win10.exe":
			assert.Equal(t, uint32(10), v.MajorVersion, "Wine %s as win10", wine)
		}
	}
}

// Wine refuses TCP_MAXRT (and, as Windows 10, the TCP_KEEP* options): the
// error says so and keeps Windows' error number for errors.Is.
func TestWindowsRefusedOptionKeepsTheErrno(t *testing.T) {
	t.Parallel()
	wine := testkit.Wine()
	if wine == "" {
		t.Skip("Windows itself has every option: only Wine refuses them")
	}
	conn, _ := testkit.Pair(t, testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}, nil, (&net.Dialer{KeepAlive: -1}).DialContext)
	var serr *os.SyscallError

	err := Config{UserTimeout: 7 * time.Second}.Apply(conn)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	assert.ErrorIs(t, err, windows.WSAENOPROTOOPT)
	if assert.ErrorAs(t, err, &serr) {
		assert.Equal(t, "setsockopt", serr.Syscall)
	}
	assert.ErrorContains(t, err, "TCP_MAXRT")

	_, err = Inspect(conn)
	assert.ErrorIs(t, err, errors.ErrUnsupported, "Wine %s", wine)
	if !usesSIO() {
		assert.ErrorIs(t, err, windows.WSAENOPROTOOPT)
		if assert.ErrorAs(t, err, &serr) {
			assert.Equal(t, "getsockopt", serr.Syscall)
		}
		assert.ErrorContains(t, err, "TCP_KEEPIDLE")
	}
}

// ReadSystem reads KeepAliveTime and KeepAliveInterval from the
// registry, and Windows' defaults where they are absent. Under Wine the test
// writes the values, and restores them; on Windows itself it only reads.
// Not parallel: the other tests read the system's values.
func TestWindowsReadSystemReadsTheRegistry(t *testing.T) {
	d, err := ReadSystem()
	require.NoError(t, err)
	assert.Equal(t, 10, d.Count)
	assert.Zero(t, d.Retries2, "no retransmission model on Windows")
	if testkit.Wine() == "" {
		t.Logf("this Windows: %+v (the registry values are left alone outside Wine)", d)
		return
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SYSTEM\CurrentControlSet\Services\Tcpip\Parameters`, registry.QUERY_VALUE|registry.SET_VALUE)
	require.NoError(t, err)
	t.Cleanup(func() { k.Close() }) // after the restoring cleanups below
	for _, name := range []string{"KeepAliveTime", "KeepAliveInterval"} {
		v, _, err := k.GetIntegerValue(name)
		if err != nil {
			require.ErrorIs(t, err, registry.ErrNotExist)
			t.Cleanup(func() {
				if err := k.DeleteValue(name); !errors.Is(err, registry.ErrNotExist) {
					assert.NoError(t, err)
				}
			})
			continue
		}
		t.Cleanup(func() { assert.NoError(t, k.SetDWordValue(name, uint32(v))) })
		require.NoError(t, k.DeleteValue(name))
	}
	d, err = ReadSystem()
	require.NoError(t, err)
	assert.Equal(t, System{Idle: 2 * time.Hour, Interval: time.Second, Count: 10}, d, "the documented defaults")

	require.NoError(t, k.SetDWordValue("KeepAliveTime", 300000))
	require.NoError(t, k.SetDWordValue("KeepAliveInterval", 2500))
	d, err = ReadSystem()
	require.NoError(t, err)
	assert.Equal(t, System{Idle: 5 * time.Minute, Interval: 2500 * time.Millisecond, Count: 10}, d, "the registry's milliseconds")

	require.NoError(t, k.SetStringValue("KeepAliveInterval", "2500"))
	_, err = ReadSystem()
	assert.ErrorIs(t, err, registry.ErrUnexpectedType)
	assert.ErrorContains(t, err, "KeepAliveInterval")
}

// A dead peer ends a blocked Read with WSAETIMEDOUT (10060), which is not
// syscall.ETIMEDOUT and not a net.Error timeout on Windows. The peer is a
// Linux process (internal/testkit/silentpeer, started by .ci/run): a Windows
// program under Wine cannot silence a socket itself, as Wine refuses
// SO_ATTACH_FILTER.
func TestWindowsSilencedPeerTimesOut(t *testing.T) {
	t.Parallel()
	if !usesSIO() {
		testkit.SkipUnderWine(t, "as Windows 10 it refuses TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT (run as win7, Wine's SIO_KEEPALIVE_VALS works)")
	}
	addr := os.Getenv("KEEPALIVE_SILENT_PEER")
	if addr == "" {
		testkit.Skip(t, "no silent peer: set KEEPALIVE_SILENT_PEER to the address `go run ./internal/testkit/silentpeer` prints, on Linux (as .ci/run does)")
	}
	c := Config{Idle: time.Second, Interval: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := c.Dial(ctx, "tcp4", addr)
	require.NoError(t, err)
	defer conn.Close()

	took, err := testkit.ReadFailure(conn, time.Now(), time.Minute)
	require.NotErrorIs(t, err, os.ErrDeadlineExceeded, "the peer was not declared dead within a minute")
	t.Logf("after %v: %v", took, err)
	assert.ErrorIs(t, err, windows.WSAETIMEDOUT)
	assert.NotErrorIs(t, err, syscall.ETIMEDOUT, "Windows reports WSAETIMEDOUT, not the ETIMEDOUT Linux does")
	var ne net.Error
	if assert.ErrorAs(t, err, &ne) {
		assert.False(t, ne.Timeout(), "WSAETIMEDOUT is no net.Error timeout")
	}
	// At least one probe went unanswered; at most Windows' 10 did (under
	// Wine Linux's tcp_keepalive_probes counts them).
	assert.GreaterOrEqual(t, took, c.Idle+c.Interval)
	d, err := c.Detection(System{})
	require.NoError(t, err)
	assert.LessOrEqual(t, took, d.IdleMax)
}
