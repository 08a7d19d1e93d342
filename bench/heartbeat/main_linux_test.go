package main

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/heartbeat"
)

// TestMain lets the test binary serve as the peer process, as the program
// does.
func TestMain(m *testing.M) {
	if os.Getenv(envPeer) != "" {
		servePeer(os.Stdout) // returns only on failure
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// A small run, so CI proves the program measures and that no live peer is
// failed (run returns an error then).
func TestSmallRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(&out, 200, heartbeat.Config{Interval: 100 * time.Millisecond, Timeout: time.Second}, 500*time.Millisecond))
	assert.Contains(t, out.String(), "| 0 |\n") // no false failure
	t.Logf("\n%s", &out)
}
