package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/layers"
)

// TestMain stops the memcached server the tests started, and fails the
// run if it is not installed (itest.Main).
func TestMain(m *testing.M) { itest.Main(m) }

// The plan's Config is what the kernel holds on the client's connection.
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(&out, itest.Memcached(t)))
	p, err := layers.Within(deadline, middleboxIdle)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("memcached within 30s: connection holds %+v; operations time out after 500ms\n", p.TCP), out.String())
}

// gomemcache takes no context: a call in flight ends when its socket
// fails, or at Client.Timeout. Timeout is set past the test's waits, as
// for large values, so that the socket decides. gomemcache hands out an
// idle pooled connection without a check, so after an idle drop the next
// call fails with the kernel's error and the one after redials.
func TestDeadPeerMemcache(t *testing.T) {
	t.Parallel()
	itest.DeadPeer(t, itest.Driver{
		Server:    itest.Memcached(t),
		Keepalive: itest.Config.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		Default:   (&net.Dialer{Timeout: memcache.DefaultTimeout}).DialContext, // gomemcache's own: Go's 15 s, 15 s, 9
		NextFails: true,
		Open: func(t *testing.T, addr string, dial testkit.DialFunc) itest.Client {
			mc := newClient(addr, dial, time.Hour)
			return itest.Client{
				Do: func(context.Context) error {
					return mc.Set(&memcache.Item{Key: "k", Value: []byte("v")})
				},
				Close: func() { mc.Close() },
			}
		},
	})
}
