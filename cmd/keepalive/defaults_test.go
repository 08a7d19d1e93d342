package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDefaultsWithoutRetransmission renders defaults as on a system without
// a retransmission model (every OS but Linux): the keepalive
// part is printed, data in flight is "not modelled", the JSON leaves the
// retransmission fields out, and the SO_KEEPALIVE-off row is what is true
// on that OS.
func TestDefaultsWithoutRetransmission(t *testing.T) {
	sys := keepalive.System{Idle: 7200 * time.Second, Interval: 75 * time.Second, Count: 8}
	read := func() (keepalive.System, error) { return sys, nil }
	for _, tc := range []struct {
		goos, off string // off: the SO_KEEPALIVE off row's cell, "" for no row
	}{
		{"darwin", "never, unless net.inet.tcp.always_keepalive=1"},
		{"freebsd", "as SO_KEEPALIVE on while net.inet.tcp.always_keepalive=1 (the default)"},
		{"windows", "never"},
		{"illumos", ""},
	} {
		t.Run(tc.goos, func(t *testing.T) {
			v, err := newDefaultsView(tc.goos, read)
			require.NoError(t, err)
			var out bytes.Buffer
			v.print(&out)
			text := out.String()
			assert.Contains(t, text, "the system's defaults on "+tc.goos)
			assert.Regexp(t, `keepalive idle +7200s `, text)
			assert.Regexp(t, `keepalive probes +8 `, text)
			d, err := keepalive.Config{}.Detection(sys)
			require.NoError(t, err)
			assert.Contains(t, text, "  "+dur(d.Idle)+" ", "the idle detection time")
			assert.Regexp(t, `data in flight, no user timeout +not modelled on `+tc.goos+` `, text)
			for _, linuxOnly := range []string{"net.ipv4", "retransmissions", "tcp_retries2", "TCP_USER_TIMEOUT"} {
				assert.NotContains(t, text, linuxOnly)
			}
			if tc.off == "" {
				assert.NotContains(t, text, "SO_KEEPALIVE off")
			} else {
				assert.Contains(t, text, "SO_KEEPALIVE off (a socket's default)  "+tc.off)
			}

			var j map[string]any
			require.NoError(t, json.Unmarshal(marshal(t, v.json()), &j))
			assert.NotContains(t, j, "tcp_retries2")
			assert.NotContains(t, j, "tcp_rto_max_s")
			for _, m := range []string{"idle", "go_default_idle"} {
				require.Contains(t, j, m)
				assert.NotContains(t, j[m], "in_flight_min_s", m)
				assert.NotContains(t, j[m], "in_flight_max_s", m)
				assert.Contains(t, j[m], "idle_model_s", m)
			}
		})
	}
}

// TestDefaultsViewErrors: an error reading the system is not hidden.
func TestDefaultsViewErrors(t *testing.T) {
	_, err := newDefaultsView("linux", func() (keepalive.System, error) {
		return keepalive.System{}, fs.ErrPermission
	})
	assert.ErrorIs(t, err, fs.ErrPermission)

	v, err := newDefaultsView("linux", func() (keepalive.System, error) {
		return keepalive.System{Idle: time.Hour, Interval: time.Minute, Count: 5, Retries2: 15, RTOMax: 2 * time.Minute}, nil
	})
	require.NoError(t, err)
	var out bytes.Buffer
	v.print(&out)
	assert.Regexp(t, `net\.ipv4\.tcp_retries2 +15 `, out.String())
	assert.Contains(t, out.String(), "SO_KEEPALIVE off (a socket's default)  never")
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, writeJSON(&b, v))
	return b.Bytes()
}
