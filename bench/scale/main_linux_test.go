package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary serve as the peer process, as the program
// does.
func TestMain(m *testing.M) {
	if os.Getenv(envPeer) != "" {
		if err := servePeer(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A small run, so CI proves the program opens, verifies (Inspect on every
// connection, or run fails) and closes connections through both variants
// and both ends, and that the library leaves no goroutine and no heap object
// per connection beyond the standard library's (run fails otherwise).
func TestSmallRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(&out, 300, 2, 2))
	assert.Equal(t, 2+len(variants)*len(phases), strings.Count(out.String(), "\n|"), "%s", &out)
	assert.Contains(t, out.String(), "dialed, keepalive / std")
	assert.Contains(t, out.String(), "accepted, keepalive / std")
	t.Logf("\n%s", &out)
}

// The peer reports bad commands instead of hanging or dying.
func TestPeerErrors(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, servePeer(strings.NewReader("bogus\nlisten x 127.0.0.1:0\ndial 1\nclose\n"), &out))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4)
	assert.Contains(t, lines[0], "unknown command")
	assert.Contains(t, lines[1], "error:")
	assert.Contains(t, lines[2], "usage")
	assert.Equal(t, "ok", strings.TrimSpace(lines[3]))
}
