package layers

import (
	"context"
	"encoding/binary"
	"io"
	"log"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/heartbeat"
)

// The Server side of the plan's HTTP/2 settings: a client that stops
// answering (its process hung; its kernel still acknowledges, so TCP
// keepalive sees nothing) is closed by the server's pings within their
// bound. The client speaks raw HTTP/2 frames so that it can hang at will.
func TestHTTP2ServerPingsHungClient(t *testing.T) {
	t.Parallel()
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	conf := h2Pings
	srv := &http.Server{Protocols: &h2c, HTTP2: &conf, Handler: http.NotFoundHandler(),
		ErrorLog: log.New(io.Discard, "", 0)} // it logs the timeout
	ln, err := tcpCfg.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	c, err := net.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	const settings, ping, flagAck = 4, 6, 1
	frame := func(typ, flags byte) []byte { // an empty frame on stream 0
		return []byte{0, 0, 0, typ, flags, 0, 0, 0, 0}
	}
	_, err = c.Write(append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(settings, 0)...))
	require.NoError(t, err)
	// Acknowledge the server's SETTINGS, then hang: read on, answer nothing.
	var last time.Time
	var pings int
	hdr := make([]byte, 9)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, err = io.ReadFull(c, hdr); err != nil {
			break
		}
		n := int(binary.BigEndian.Uint32(append([]byte{0}, hdr[:3]...)))
		if _, err = io.CopyN(io.Discard, c, int64(n)); err != nil {
			break
		}
		switch {
		case hdr[3] == settings && hdr[4]&flagAck == 0:
			_, err := c.Write(frame(settings, flagAck))
			require.NoError(t, err)
			last = time.Now()
		case hdr[3] == ping:
			pings++
		}
	}
	took, readErr := time.Since(last), err
	d, err := heartbeat.Config{Interval: conf.SendPingTimeout, Timeout: conf.PingTimeout}.Detection()
	require.NoError(t, err)
	t.Logf("| a client that stops answering | HTTP/2 pings (Server) | %.2f s after its last frame, %d ping(s) unanswered, then %v | %.2f s |", took.Seconds(), pings, readErr, d.IdleMax.Seconds())
	assert.ErrorIs(t, readErr, io.EOF) // the server closed it
	assert.Positive(t, pings)
	assert.GreaterOrEqual(t, took, d.IdleMin-10*time.Millisecond)
	assert.LessOrEqual(t, took, d.IdleMax+slack)
}
