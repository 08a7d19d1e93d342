package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

// No MongoDB server here: the driver dials a loopback listener whose every
// connection is silenced as it is accepted (a dead host that completed the
// TCP handshake). Its connection carries the Config, and the handshake
// (the driver's hello, sent in flight or already acknowledged and awaiting
// an answer, depending on when the silence lands) is ended by the Config,
// not by the driver's ConnectTimeout, set past the test's waits.
func TestDeadPeerTCPOnly(t *testing.T) {
	t.Parallel()
	cfg := itest.Config
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	dead, err := keepalivetest.NewListener(ln)
	require.NoError(t, err)
	t.Cleanup(func() { dead.Close() })
	require.NoError(t, dead.FailNext(keepalivetest.Silent))
	go func() {
		for {
			if _, err := dead.Accept(); err != nil {
				return
			}
		}
	}()

	ends := itest.NewEnds()
	tr := itest.Track(keepalive.WatchDial(cfg.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext, ends.Hook))
	start := time.Now()
	opts := Options("mongodb://"+ln.Addr().String()+"/?directConnection=true", DialFunc(tr.Dial)).
		SetConnectTimeout(10 * time.Minute).SetServerSelectionTimeout(10 * time.Minute)
	cl, err := mongo.Connect(opts)
	require.NoError(t, err)
	t.Cleanup(func() { cl.Disconnect(context.Background()) })

	// The monitor dials at once.
	var conn net.Conn
	for deadline := time.Now().Add(itest.InFlightWait); conn == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if c := tr.Conns(); len(c) > 0 {
			conn = c[0]
		}
	}
	require.NotNil(t, conn, "the driver dialed")
	got, err := keepalive.Inspect(conn)
	require.NoError(t, err)
	require.Equal(t, cfg.Rounded(), got, "the driver's connection carries the Config")

	bound := itest.InFlightBound(cfg) // the longer of the two: in flight
	end := ends.Wait(t, conn, bound+itest.Slack)
	took := time.Since(start)
	assert.True(t, end.Cause == keepalive.CauseRetransmit || end.Cause == keepalive.CauseKeepAlive, "the kernel timed the driver's connection out: %v (%+v)", end.Cause, end.Status)
	assert.LessOrEqual(t, took, bound+itest.Slack)
	// What an application's call sees now: server selection, bounded by
	// its context, with the kernel's error as the server's last.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	perr := cl.Ping(ctx, nil)
	require.Error(t, perr)
	t.Logf("handshake to a dead peer: the driver closed its connection %v after connecting (bound %v); WatchDial's hook: %v (%d retransmissions, %d probes); Ping said %q (%T)",
		took.Round(time.Millisecond), bound.Round(time.Millisecond), end.Cause, end.Status.Retransmits, end.Status.Probes, perr, perr)
}
