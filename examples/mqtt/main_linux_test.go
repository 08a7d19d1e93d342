package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/layers"
)

// TestMain stops the mosquitto broker the tests started, and fails the run
// if it is not installed (itest.Main).
func TestMain(m *testing.M) { itest.Main(m) }

func brokerURL(addr string) string { return "tcp://" + addr }

// The plan's Config is what the kernel holds on the client's connection.
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, brokerURL(itest.Mosquitto(t))))
	p, err := layers.Within(deadline, middleboxIdle)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("MQTT within 30s: connection holds %+v; keepalive 18s, PINGRESP awaited 10s\n", p.TCP), out.String())
}

func TestDeadPeerMQTT(t *testing.T) {
	t.Parallel()
	itest.DeadPeer(t, itest.Driver{
		Server:    itest.Mosquitto(t),
		Keepalive: itest.Config.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		Default:   (&net.Dialer{Timeout: 30 * time.Second}).DialContext, // paho's own: Go's 15 s, 15 s, 9
		ReadsIdle: true,                                                 // its reader sees the drop and reconnects
		// A QoS 1 publish whose connection dies is kept and sent again after
		// the reconnect: the publisher sees no error, only the time it took.
		// The kernel's error reaches the ConnectionLostHandler.
		ResendsInFlight: true,
		Open: func(t *testing.T, addr string, dial testkit.DialFunc) itest.Client {
			logf, stop := itest.LogUntil(t)
			opts := Options(brokerURL(addr), layers.Plan{}, dial).
				SetKeepAlive(0). // MQTT's own PINGs off for the test: they would end the wait whatever the socket does
				SetMaxReconnectInterval(100 * time.Millisecond).
				SetConnectionLostHandler(func(_ mqtt.Client, err error) { logf("paho ConnectionLostHandler: %q (%T)", err, err) })
			c := mqtt.NewClient(opts)
			require.NoError(t, wait(context.Background(), c.Connect()))
			return itest.Client{
				Do:    func(ctx context.Context) error { return wait(ctx, c.Publish("t", 1, false, "x")) },
				Close: func() { stop(); c.Disconnect(0) },
			}
		},
	})
}
