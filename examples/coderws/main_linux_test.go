package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/heartbeat"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/layers"
)

// The plan's Config is what the kernel holds on both ends' connections.
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	p, err := layers.Within(deadline, middleboxIdle)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("WebSocket within 30s: client's connection holds %+v, server's %+v; pings every 18s, dead after 10s unanswered\n", p.TCP, p.TCP), out.String())
}

var recipe = itest.WebSocket{
	NewServer: func(m *heartbeat.Monitor, onFail func(error)) itest.WSServer { return NewServer(m, onFail) },
	Dial: func(ctx context.Context, url string, dial testkit.DialFunc, m *heartbeat.Monitor, onFail func(error)) (itest.WSClient, error) {
		return Dial(ctx, url, dial, m, onFail)
	},
	ConnContext: WithConn,
	Default:     (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext, // http.DefaultTransport's: Go's keepalive at 30 s, 15 s, 9
}

// The client notices a dead server by TCP (idle, and an echo in flight).
func TestDeadPeerCoder(t *testing.T) {
	t.Parallel()
	recipe.DeadServer(t)
}

// The client's WebSocket pings alone notice a dead server.
func TestPingsDeadServer(t *testing.T) {
	t.Parallel()
	recipe.ServerPings(t)
}

// The server notices a dead client: TCP through WatchListener, or pings.
func TestDeadClient(t *testing.T) {
	t.Parallel()
	recipe.DeadClient(t)
}
