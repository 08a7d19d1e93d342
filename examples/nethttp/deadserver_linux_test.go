package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/keepalivetest"
)

// TestClientNoticesDeadServer is the test of docs/testing-your-service.md
// for net/http: as any user (InNetNS), an http.Client whose Transport
// dials with a Config notices within the Config's deadlines that its
// server died. The server is the test's own, in the namespace. CI runs it
// as uid 65534 (.ci/run).
func TestClientNoticesDeadServer(t *testing.T) {
	t.Parallel()
	if !keepalivetest.InNetNS(t, nil) {
		return // the run inside the namespace passed, failed or skipped
	}

	cfg := keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 2, UserTimeout: 3 * time.Second}
	sys, err := keepalive.ReadSystem()
	require.NoError(t, err)
	d, err := cfg.Detection(sys)
	require.NoError(t, err)

	// open returns a server whose connections can fail, a client of it,
	// and the client's one connection.
	open := func(t *testing.T) (*keepalivetest.Listener, *httptest.Server, *http.Client, net.Conn) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
		l, err := keepalivetest.NewListener(srv.Listener)
		require.NoError(t, err)
		srv.Listener = l
		srv.Start()
		t.Cleanup(srv.Close)
		var mu sync.Mutex
		var last net.Conn // the connection EndsWithin reports on
		client := &http.Client{Transport: newTransport(func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := cfg.Dialer(nil).DialContext(ctx, network, addr)
			mu.Lock()
			defer mu.Unlock()
			last = c
			return c, err
		})}
		t.Cleanup(client.CloseIdleConnections)
		require.NoError(t, get(context.Background(), client, srv.URL))
		mu.Lock()
		defer mu.Unlock()
		return l, srv, client, last
	}

	t.Run("in flight", func(t *testing.T) {
		t.Parallel()
		l, srv, client, conn := open(t)
		require.NoError(t, l.FailAll(keepalivetest.Silent))
		// The request is sent to the dead server: it must fail (or, a GET
		// on a reused connection, be retried on a new one) within
		// InFlightMax of the write.
		keepalivetest.EndsWithin(t, d.InFlightMax+slack, conn, func(ctx context.Context) error {
			return get(ctx, client, srv.URL)
		})
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		l, srv, client, conn := open(t)
		require.NoError(t, l.FailAll(keepalivetest.Silent))
		// The kernel drops the idle pooled connection within IdleMax (and
		// the Transport, reading it, closes it)...
		keepalivetest.EndsWithin(t, d.IdleMax+slack, conn, nil)
		// ...and the next request goes to a new one.
		_, err := keepalivetest.EndsWithin(t, 5*time.Second, nil, func(ctx context.Context) error {
			return get(ctx, client, srv.URL)
		})
		require.NoError(t, err, "the request after the dead connection was dropped")
		require.Greater(t, len(l.Conns()), 1, "the request went to a new connection")
	})
}

func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// slack is a second on top of the model's deadlines for the client's
// reaction and a loaded machine (the race detector on two busy cores).
const slack = time.Second
