package heartbeat_test

import (
	"context"
	"net"
	"regexp"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/heartbeat"
)

func TestHeartbeatInvalid(t *testing.T) {
	t.Parallel()
	for _, h := range []heartbeat.Config{{}, {Interval: time.Second}, {Timeout: time.Second}, {Interval: -1, Timeout: time.Second}} {
		_, err := heartbeat.NewMonitor(h)
		assert.ErrorIs(t, err, syscall.EINVAL, "%+v", h)
		_, err = h.Detection()
		assert.ErrorIs(t, err, syscall.EINVAL, "%+v", h)
	}
	var nilMonitor *heartbeat.Monitor
	_, err := nilMonitor.Start(nil, nil, nil)
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.NoError(t, nilMonitor.Close())
	assert.Zero(t, nilMonitor.Len())
	var zero heartbeat.Monitor
	_, err = zero.Start(&net.TCPConn{}, func(context.Context) error { return nil }, nil)
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.NoError(t, zero.Close())
	var zeroWatch heartbeat.Pinger
	assert.False(t, zeroWatch.Stop())
	var nilWatch *heartbeat.Pinger
	assert.False(t, nilWatch.Stop())
	assert.NoError(t, nilWatch.Err())

	m, err := heartbeat.NewMonitor(heartbeat.Config{Interval: time.Second, Timeout: time.Second})
	require.NoError(t, err)
	ping := func(context.Context) error { return nil }
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	_, err = m.Start(nil, ping, nil)
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = m.Start((*net.TCPConn)(nil), ping, nil)
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = m.Start(c1, nil, nil)
	assert.ErrorIs(t, err, syscall.EINVAL)
	require.NoError(t, m.Close())
	require.NoError(t, m.Close())
	_, err = m.Start(c1, ping, nil)
	assert.ErrorIs(t, err, heartbeat.ErrClosed)
}

func TestHeartbeatDetection(t *testing.T) {
	t.Parallel()
	d, err := heartbeat.Config{Interval: 10 * time.Second, Timeout: 5 * time.Second}.Detection()
	require.NoError(t, err)
	assert.Equal(t, keepalive.Detection{Idle: 15 * time.Second, IdleMin: 15 * time.Second,
		IdleMax:       15*time.Second + 100*time.Millisecond + 15*time.Second/32,
		InFlightMax:   15*time.Second + 100*time.Millisecond + 15*time.Second/32,
		ZeroWindowMax: 15*time.Second + 100*time.Millisecond + 15*time.Second/32}, d)
}

// waitGoroutines waits up to 5 s for the goroutine count to fall to n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	if runtime.GOOS == "js" {
		n++ // the runtime starts an event-handler goroutine (runtime.handleEvent)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !assert.LessOrEqual(t, runtime.NumGoroutine(), n, "goroutines left behind") {
		buf := make([]byte, 1<<16)
		t.Logf("%s", buf[:runtime.Stack(buf, true)])
	}
}

// Stop cancels the ping in flight and leaves the connection open; Close
// waits for pings and the scheduler: no goroutine is left.
func TestHeartbeatStopClose(t *testing.T) {
	// Not parallel: it counts the process's goroutines.
	base := runtime.NumGoroutine()
	m, err := heartbeat.NewMonitor(heartbeat.Config{Interval: 10 * time.Millisecond, Timeout: time.Hour})
	require.NoError(t, err)
	c1, c2 := net.Pipe()
	defer c2.Close()
	started := make(chan struct{}, 1)
	cancelled := make(chan error, 1)
	w, err := m.Start(c1, func(ctx context.Context) error {
		started <- struct{}{}
		<-ctx.Done()
		cancelled <- ctx.Err()
		return ctx.Err()
	}, func(err error) { t.Errorf("unexpected failure: %v", err) })
	require.NoError(t, err)
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("no ping started")
	}
	assert.True(t, w.Stop())
	assert.False(t, w.Stop())
	select {
	case err := <-cancelled:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not cancel the ping")
	}
	assert.NoError(t, c1.SetDeadline(time.Time{}), "the connection is still open")

	// Many watches, pings in flight, then Close.
	var pipes []net.Conn
	for range 100 {
		a, b := net.Pipe()
		pipes = append(pipes, a, b)
		_, err := m.Start(a, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, nil)
		require.NoError(t, err)
	}
	assert.Equal(t, 100, m.Len())
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, m.Close())
	assert.Zero(t, m.Len())
	for _, p := range pipes {
		p.Close()
	}
	c1.Close()
	waitGoroutines(t, base)
}

// Durations near the maximum neither wrap nor fire at once.
func TestHeartbeatHugeDurations(t *testing.T) {
	t.Parallel()
	h := heartbeat.Config{Interval: 1<<63 - 1, Timeout: 1<<63 - 1}
	d, err := h.Detection()
	require.NoError(t, err)
	assert.Equal(t, time.Duration(1<<63-1), d.IdleMax)
	m, err := heartbeat.NewMonitor(h)
	require.NoError(t, err)
	defer m.Close()
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	w, err := m.Start(c1, func(context.Context) error { t.Error("pinged"); return nil }, nil)
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	assert.True(t, w.Stop())
}

// A huge Timeout gives the ping a deadline far ahead, not one in the past.
func TestHeartbeatHugeTimeout(t *testing.T) {
	t.Parallel()
	m, err := heartbeat.NewMonitor(heartbeat.Config{Interval: time.Millisecond, Timeout: 1<<63 - 1})
	require.NoError(t, err)
	defer m.Close()
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	deadlines := make(chan time.Time, 1)
	w, err := m.Start(c1, func(ctx context.Context) error {
		dl, _ := ctx.Deadline()
		select {
		case deadlines <- dl:
		default:
		}
		return nil
	}, nil)
	require.NoError(t, err)
	select {
	case dl := <-deadlines:
		assert.True(t, dl.After(time.Now().Add(100*365*24*time.Hour)), "%v", dl)
	case <-time.After(5 * time.Second):
		t.Fatal("no ping within 5s")
	}
	w.Stop()
}

// Every deadline from 3 s up gets pings in whole seconds whose worst case
// meets it, with the interval asked for; shorter ones fail, naming the
// shortest.
func TestWithin(t *testing.T) {
	t.Parallel()
	for _, min := range []time.Duration{0, 10 * time.Second} {
		for d := 3 * time.Second; d < 3*time.Hour; d += d/7 + 130*time.Millisecond {
			h, err := heartbeat.Within(d, min)
			if d < 12*time.Second && min > 0 {
				assert.ErrorIs(t, err, syscall.EINVAL, "%v", d)
				continue
			}
			require.NoError(t, err, "%v", d)
			det, err := h.Detection()
			require.NoError(t, err)
			assert.LessOrEqual(t, det.IdleMax, d, "%v: %+v", d, h)
			assert.GreaterOrEqual(t, h.Interval, max(min, time.Second), "%v", d)
			assert.GreaterOrEqual(t, h.Timeout, time.Second, "%v", d)
			assert.LessOrEqual(t, h.Timeout, max(time.Second, d/3), "%v", d)
			assert.Zero(t, h.Interval%time.Second+h.Timeout%time.Second, "%v: %+v", d, h)
		}
	}
	for _, d := range []time.Duration{-time.Second, 0, time.Second, 2 * time.Second} {
		_, err := heartbeat.Within(d, 0)
		assert.ErrorIs(t, err, syscall.EINVAL, "%v", d)
	}
	_, err := heartbeat.Within(11*time.Second, 10*time.Second)
	assert.ErrorContains(t, err, "heartbeat: Within: a deadline of 11s is too short for pings at least 10s apart with a timeout of at least 1s (the shortest is 11.44375s): ")
}

// The shortest deadline an error names is one Within accepts, and nothing
// shorter is, for intervals in whole seconds and not.
func TestWithinShortest(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`the shortest is ([0-9hms.]+)\)`)
	_, err := heartbeat.Within(time.Hour, 1<<63-1)
	assert.ErrorContains(t, err, "(the shortest is 2562047h47m16.854775807s)", "saturated, not wrapped")
	for _, min := range []time.Duration{0, time.Second, 1500 * time.Millisecond, 10 * time.Second, 2*time.Minute + 300*time.Millisecond, 1000 * time.Hour} {
		_, err := heartbeat.Within(time.Second, min)
		require.ErrorIs(t, err, syscall.EINVAL)
		m := re.FindStringSubmatch(err.Error())
		require.NotNil(t, m, "%v", err)
		shortest, perr := time.ParseDuration(m[1])
		require.NoError(t, perr)
		_, err = heartbeat.Within(shortest, min)
		assert.NoError(t, err, "min %v: the shortest named, %v", min, shortest)
		_, err = heartbeat.Within(shortest-time.Millisecond, min)
		assert.ErrorIs(t, err, syscall.EINVAL, "min %v: 1ms below the shortest, %v", min, shortest)
	}
}

// A connection that panics on every call (a wrapper around nil) fails its
// ping and is closed without taking the Monitor down.
func TestHeartbeatOddConn(t *testing.T) {
	t.Parallel()
	m, err := heartbeat.NewMonitor(heartbeat.Config{Interval: time.Millisecond, Timeout: time.Second})
	require.NoError(t, err)
	defer m.Close()
	failed := make(chan error, 1)
	conn := struct{ net.Conn }{}
	_, err = m.Start(conn, func(context.Context) error { _, err := conn.Write(nil); return err }, func(err error) { failed <- err })
	require.NoError(t, err)
	select {
	case err := <-failed:
		var he *heartbeat.Error
		require.ErrorAs(t, err, &he)
		assert.ErrorContains(t, err, "ping panicked")
	case <-time.After(5 * time.Second):
		t.Fatal("onFail not called")
	}
}
