package main

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/keepalive-go/keepalive/internal/testkit/deadpeer"
)

func TestDeadPeerDemo(t *testing.T) {
	t.Parallel()
	// The program silences its peers as testkit does; where the kernel
	// refuses, skip with the reason instead of failing on its error rows.
	_, peer := testkit.Pair(t, testkit.Loopbacks(t)[0], nil, (&net.Dialer{}).DialContext)
	deadpeer.Silence(t, peer)
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(&out, &errOut, []string{"-idle", "1s", "-interval", "1s", "-count", "1"}), errOut.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 6, out.String())
	assert.Contains(t, lines[3], "still ESTABLISHED", "Go's default dialer")
	assert.Contains(t, lines[4], "still ESTABLISHED", "OS defaults")
	assert.Contains(t, lines[5], "keepalive timeout after 1 probes", "the Config")
	assert.Contains(t, lines[5], "2s ", "predicted: Idle + Count*Interval")
}

func TestDeadPeerDemoRefusesBadInput(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run(&out, &errOut, []string{"-count", "500"}))
	assert.Contains(t, errOut.String(), "Count 500 outside 1..127")
}
