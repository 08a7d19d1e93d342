package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(&out))
	want := fmt.Sprintf("connection holds %+v\n", cfg)
	assert.Equal(t, "server: "+want+"client: "+want, out.String(), "both ends of the live connection carry the Config")
}

func TestDeadPeerHTTP(t *testing.T) {
	t.Parallel()
	ln, err := itest.Config.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	srv := newServer()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	itest.DeadPeer(t, itest.Driver{
		Server:    ln.Addr().String(),
		Keepalive: itest.Config.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		Default:   http.DefaultTransport.(*http.Transport).DialContext, // 30 s keepalive: Go's 15 s probes, 9 of them
		// The Transport's readLoop has a read pending on idle connections.
		ReadsIdle: true,
		Open: func(t *testing.T, addr string, dial testkit.DialFunc) itest.Client {
			// No Client.Timeout, no ResponseHeaderTimeout, IdleConnTimeout
			// 90 s: nothing of the Transport's own ends a wait in this test.
			tr := newTransport(dial)
			client := &http.Client{Transport: tr}
			return itest.Client{
				// A POST: the Transport retries a failed idempotent request
				// (GET) on a new connection, which would hide the failure.
				Do: func(ctx context.Context) error {
					req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/", strings.NewReader("hello"))
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
				},
				Close: tr.CloseIdleConnections,
			}
		},
	})
}
