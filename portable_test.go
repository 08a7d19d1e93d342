package keepalive

import (
	"context"
	"errors"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/internal/testkit"
)

// hostConfig is a Config inside this host's ranges, with every field the
// host can set per connection set, and the part of it the host refuses.
func hostConfig(t *testing.T) (settable Config, refused Config) {
	p := host()
	require.NotNil(t, p)
	pick := func(o durOpt, want time.Duration) (time.Duration, time.Duration) {
		if o.name == "" {
			return 0, want
		}
		return min(max(want, o.min), o.max), 0
	}
	settable.Idle, refused.Idle = pick(p.idle, 11*time.Second)
	settable.Interval, refused.Interval = pick(p.interval, 3*time.Second)
	settable.UserTimeout, refused.UserTimeout = pick(p.userTimeout, 7*time.Second)
	if p.count.name != "" {
		settable.Count = 4
	} else {
		refused.Count = 4
	}
	return settable, refused
}

// withoutWineGaps returns c without the fields whose options Wine refuses
// (Wine 8.0 has neither TCP_MAXRT nor TCP_KEEPIDLE, TCP_KEEPINTVL and
// TCP_KEEPCNT), after checking that each refusal is the clear one: an error
// wrapping errors.ErrUnsupported that names the option. Elsewhere, and for
// the options Wine honours, c is returned as it is.
func withoutWineGaps(t *testing.T, c Config) Config {
	wine := testkit.Wine()
	if wine == "" {
		return c
	}
	conn, _ := testkit.Pair(t, testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}, nil, (&net.Dialer{KeepAlive: -1}).DialContext)
	rc, err := conn.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	for _, f := range []struct {
		one    Config
		option string
		drop   func(*Config)
	}{
		{Config{Idle: c.Idle}, host().idle.name, func(c *Config) { c.Idle = 0 }},
		{Config{Interval: c.Interval}, host().interval.name, func(c *Config) { c.Interval = 0 }},
		{Config{Count: c.Count}, host().count.name, func(c *Config) { c.Count = 0 }},
		{Config{UserTimeout: c.UserTimeout}, host().userTimeout.name, func(c *Config) { c.UserTimeout = 0 }},
	} {
		if f.one == (Config{}) {
			continue
		}
		// Control sets only the fields given (Apply would fill the others
		// with the system's values, and fail on the first option refused).
		err := f.one.Control("tcp4", "", rc)
		if err == nil {
			continue
		}
		require.ErrorIs(t, err, errors.ErrUnsupported, "%+v under Wine %s", f.one, wine)
		require.ErrorContains(t, err, f.option)
		t.Logf("Wine %s refuses %s, as expected (%v): left out", wine, f.option, err)
		f.drop(&c)
	}
	return c
}

// On every OS with an implementation (CI runs this on Linux and, under
// Wine, on Windows; it compiles for every other GOOS): Dial and Listen
// leave the Config on both ends, and a field the OS cannot set is refused
// before anything changes.
func TestDialListenInspectOnThisOS(t *testing.T) {
	t.Parallel()
	if host() == nil {
		t.Skipf("%s has no TCP keepalive options (TestUnsupportedOSSaysSo)", runtime.GOOS)
	}
	c, refused := hostConfig(t)
	require.NoError(t, c.Validate())
	if c = withoutWineGaps(t, c); c == (Config{}) {
		testkit.SkipUnderWine(t, "it refuses every keepalive option of "+host().name+" (see the refusals above)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ln, err := c.Listen(ctx, "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	// Pair accepts in a goroutine that reports over a channel: an assert
	// there could run after the test has ended (a failed Dial), which
	// panics the whole test binary.
	client, server := testkit.Pair(t, testkit.Loopback{Network: "tcp4", Addr: "127.0.0.1:0"}, ln, c.Dial)

	want := c
	if host().fixedCount > 0 || host().idle.name == "" {
		d, err := ReadSystem()
		require.NoError(t, err)
		want = want.withDefaults(Config{Idle: d.Idle, Interval: d.Interval, Count: d.Count})
	}
	for name, conn := range map[string]net.Conn{"dialed": client, "accepted": server} {
		got, err := Inspect(conn)
		if errors.Is(err, errors.ErrUnsupported) {
			t.Logf("%s: %v", name, err)
			continue
		}
		require.NoError(t, err, name)
		assert.Equal(t, want, got, name)
	}

	// The same through InspectRawConn, on a duplicate of the socket.
	if want, err := Inspect(client); err == nil {
		t.Run("InspectRawConn", func(t *testing.T) {
			testkit.SkipUnderWine(t, "TCPConn.File fails there (\"Invalid function\")")
			f, err := client.(*net.TCPConn).File()
			require.NoError(t, err)
			defer f.Close()
			rc, err := f.SyscallConn()
			require.NoError(t, err)
			got, err := InspectRawConn(rc)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}

	if refused == (Config{}) {
		return // this OS sets every field
	}
	before, inspectErr := Inspect(client)
	err = refused.Apply(client)
	assert.ErrorIs(t, err, errors.ErrUnsupported, "%+v", refused)
	assert.ErrorContains(t, err, host().name)
	if inspectErr == nil {
		after, err := Inspect(client)
		require.NoError(t, err)
		assert.Equal(t, before, after, "a refused Config changes nothing")
	}
}
