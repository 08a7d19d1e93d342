//go:build !unix && !windows

package keepalive_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/keepalive-go/keepalive"
)

// Every call that would touch a socket or the system says, clearly, that
// this OS is not supported yet.
func TestUnsupportedOSSaysSo(t *testing.T) {
	c := keepalive.Config{Idle: time.Minute}
	check := func(name string, err error) {
		t.Helper()
		assert.ErrorIs(t, err, errors.ErrUnsupported, name)
		assert.ErrorContains(t, err, runtime.GOOS, name)
	}
	check("Validate", c.Validate())
	check("Control", c.Control("tcp", "127.0.0.1:1", nil))
	_, err := c.Dial(context.Background(), "tcp", "127.0.0.1:1")
	check("Dial", err)
	_, err = c.Listen(context.Background(), "tcp", "127.0.0.1:0")
	check("Listen", err)
	_, err = keepalive.ReadSystem()
	check("ReadSystem", err)
	_, err = c.Detection(keepalive.System{})
	check("Detection", err)
	_, err = keepalive.Within(time.Minute, 0)
	check("Within", err)
	check("Apply", c.Apply(nil)) // validation comes first
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Logf("no TCP on %s (%v): WrapListener, Apply and Inspect on real connections not checked", runtime.GOOS, err)
		return
	}
	defer ln.Close()
	_, err = c.WrapListener(ln).Accept()
	check("WrapListener", err)
	conn, err := net.Dial("tcp", ln.Addr().String())
	if !assert.NoError(t, err) {
		return
	}
	defer conn.Close()
	check("Apply", c.Apply(conn))
	_, err = keepalive.Inspect(conn)
	check("Inspect", err)
}
