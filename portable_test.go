//go:build unix || windows

package keepalive

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// On every OS with an implementation (CI runs this on Linux; it compiles
// for every other GOOS): Dial and Listen leave the Config on both ends, and
// a field the OS cannot set is refused before anything changes.
func TestDialListenInspectOnThisOS(t *testing.T) {
	t.Parallel()
	c, refused := hostConfig(t)
	require.NoError(t, c.Validate())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ln, err := c.Listen(ctx, "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		assert.NoError(t, err)
		accepted <- conn
	}()
	client, err := c.Dial(ctx, "tcp", ln.Addr().String())
	require.NoError(t, err)
	defer client.Close()
	var server net.Conn
	select {
	case server = <-accepted:
		require.NotNil(t, server)
		defer server.Close()
	case <-ctx.Done():
		t.Fatal("accept: nothing within 5s")
	}

	want := c
	if host().fixedCount > 0 || host().idle.name == "" {
		d, err := ReadSystem()
		require.NoError(t, err)
		want = want.withDefaults(Config{Idle: d.Idle, Interval: d.Interval, Count: d.Count})
	}
	for name, conn := range map[string]net.Conn{"dialed": client, "accepted": server} {
		got, err := Inspect(conn)
		if errors.Is(err, errors.ErrUnsupported) {
			t.Logf("%s: %s cannot read keepalive values back: %v", name, host().name, err)
			continue
		}
		require.NoError(t, err, name)
		assert.Equal(t, want, got, name)
	}

	// The same through InspectRawConn, on a duplicate of the socket.
	if want, err := Inspect(client); err == nil {
		f, err := client.(*net.TCPConn).File()
		require.NoError(t, err)
		defer f.Close()
		rc, err := f.SyscallConn()
		require.NoError(t, err)
		got, err := InspectRawConn(rc)
		require.NoError(t, err)
		assert.Equal(t, want, got, "InspectRawConn")
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
