package keepalive_test

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// A second Close waits for the first one's OnEnd: the descriptor is closed
// only once OnEnd has returned, and OnEnd runs once.
func TestWatchConnConcurrentClose(t *testing.T) {
	t.Parallel()
	client, _ := testkit.Pair(t, testkit.Loopbacks(t)[0], nil, plainDial)
	inEnd, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	var openInEnd atomic.Bool
	w := keepalive.WatchConn(client, func(conn net.Conn, _ keepalive.Cause, _ keepalive.Status) {
		calls.Add(1)
		close(inEnd)
		<-release
		_, err := keepalive.StatusOf(conn) // the socket is still open here
		openInEnd.Store(err == nil)
	})
	first := make(chan error, 1)
	go func() { first <- w.Close() }()
	select {
	case <-inEnd:
	case <-time.After(5 * time.Second):
		t.Fatal("OnEnd not called")
	}
	second := make(chan error, 1)
	go func() { second <- w.Close() }()
	select {
	case err := <-second:
		t.Fatalf("the second Close returned (%v) while OnEnd ran", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	for _, ch := range []chan error{first, second} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return")
		}
	}
	assert.Equal(t, int32(1), calls.Load(), "OnEnd once")
	assert.True(t, openInEnd.Load(), "the descriptor was open during OnEnd")
}

// A panicking OnEnd does not leak the descriptor.
func TestWatchConnOnEndPanics(t *testing.T) {
	t.Parallel()
	client, _ := testkit.Pair(t, testkit.Loopbacks(t)[0], nil, plainDial)
	w := keepalive.WatchConn(client, func(net.Conn, keepalive.Cause, keepalive.Status) { panic("boom") })
	assert.Panics(t, func() { w.Close() })
	_, err := keepalive.StatusOf(client)
	assert.Error(t, err, "closed despite the panic")
}
