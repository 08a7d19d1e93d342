package keepalive_test

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/keepalive-go/keepalive"
)

// lazyRawConn's Control returns without calling its function, as a broken
// wrapper might.
type lazyRawConn struct{}

func (lazyRawConn) Control(func(fd uintptr)) error           { return nil }
func (lazyRawConn) Read(func(fd uintptr) (done bool)) error  { return nil }
func (lazyRawConn) Write(func(fd uintptr) (done bool)) error { return nil }

// A RawConn that never runs the function gets an error, not a silent
// success with nothing set or read.
func TestRawConnThatNeverCalls(t *testing.T) {
	t.Parallel()
	cfg := keepalive.Config{Idle: 10 * time.Second}
	errs := map[string]error{"Control": cfg.Control("tcp", "", lazyRawConn{})}
	_, errs["InspectRawConn"] = keepalive.InspectRawConn(lazyRawConn{})
	_, errs["StatusOfRawConn"] = keepalive.StatusOfRawConn(lazyRawConn{})
	_, _, errs["CauseOfRawConn"] = keepalive.CauseOfRawConn(lazyRawConn{}, nil)
	for name, err := range errs {
		if !assert.Error(t, err, name) {
			continue
		}
		if runtime.GOOS == "linux" {
			assert.ErrorIs(t, err, syscall.EINVAL, name)
			assert.ErrorContains(t, err, "returned without calling its function", name)
		}
	}
}
