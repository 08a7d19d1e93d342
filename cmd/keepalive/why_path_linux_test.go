package main

import (
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/faultlab"
	"github.com/keepalive-go/keepalive/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWhyOwnLinkDown is the seed's second story: this host's own link goes
// down (ifconfig wlan0 down; here a veth in a namespace) while the program
// writes every 250 ms. The writes go on "succeeding" into the send buffer,
// the data never leaves and the window-probe (persist) timer runs with
// nobody answering: probes climb, nothing arrives. why must not say the
// peer stopped reading, and must say when the kernel gives up: after
// tcp_retries2 unanswered probes (the model's in-flight bounds), or at the
// user timeout. conns' timer column must say the probes go unanswered.
func TestWhyOwnLinkDown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  *keepalive.Config // nil: Go's defaults (net.Dialer{})
	}{
		{"Go defaults", nil},
		{"user timeout", &keepalive.Config{Idle: 37 * time.Second, Interval: 11 * time.Second, Count: 4, UserTimeout: 47 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lab, err := faultlab.New()
			if err != nil {
				testkit.Skip(t, "skipping: "+err.Error())
			}
			t.Cleanup(func() { lab.Close() })
			top, err := lab.Bridged()
			require.NoError(t, err)
			dial := (&net.Dialer{}).DialContext
			if tc.cfg != nil {
				dial = tc.cfg.Dial
			}
			client, server, err := top.Pair(faultlab.DialFunc(dial), "tcp4")
			require.NoError(t, err)
			t.Cleanup(func() { client.Close(); server.Close() })
			go func() { // a live peer, reading: it never stops
				b := make([]byte, 1<<16)
				for {
					if _, err := server.Read(b); err != nil {
						return
					}
				}
			}()
			stop := make(chan struct{})
			wrote := make(chan struct{})
			t.Cleanup(func() { close(stop); <-wrote })
			go func() {
				defer close(wrote)
				tick := time.NewTicker(250 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						client.SetWriteDeadline(time.Now().Add(time.Second))
						client.Write(make([]byte, 100)) // succeeds into the send buffer
					}
				}
			}()
			time.Sleep(600 * time.Millisecond) // some data went through
			require.NoError(t, top.LinkDown(faultlab.Client))

			local, remote := client.LocalAddr().String(), client.RemoteAddr().String()
			var w whyOut
			require.Eventually(t, func() bool {
				w = decode[whyOut](t, keepaliveCmd(t, "why", "--netns", top.Client, "--json", local, remote))
				return len(w.Connections) == 1 && w.Connections[0].Timer == "zero-window-probe" && w.Connections[0].Probes >= 3
			}, 20*time.Second, 100*time.Millisecond, "the window-probe timer, 3 probes unanswered")
			c := w.Connections[0]
			t.Logf("%+v", c)
			assert.Equal(t, "unanswered", c.Window)
			assert.NotContains(t, c.Verdict.Cause, "stopped reading")
			assert.Contains(t, c.Verdict.Cause, "nothing answers")
			assert.NotContains(t, strings.Join(c.Verdict.Why, " "), "its kernel answers the window probes")
			assert.Equal(t, "soon", c.Verdict.Ends, "the kernel does give up")
			assert.Equal(t, "the write", c.Verdict.From)

			var sys keepalive.System
			require.NoError(t, faultlab.Do(top.Client, func() (err error) { sys, err = keepalive.ReadSystem(); return err }))
			sys.RTO = time.Duration(math.Round(c.RTOBase * float64(time.Second)))
			cfg := goDefault()
			if tc.cfg != nil {
				cfg = *tc.cfg
			}
			d, err := cfg.Detection(sys)
			require.NoError(t, err)
			require.NotNil(t, c.Verdict.Earliest)
			require.NotNil(t, c.Verdict.Latest)
			// Without a user timeout, tcp_retries2 unanswered probes: the
			// model's in-flight bounds (about 15 to 17 minutes with
			// tcp_retries2 15 and a 200 ms RTO); with one, the user
			// timeout clamps the probe timer as for a closed window.
			lo, hi := d.InFlightMin, d.InFlightMax
			if cfg.UserTimeout > 0 {
				lo, hi = d.ZeroWindowMin, d.ZeroWindowMax
			} else {
				assert.Greater(t, *c.Verdict.Latest, 15*time.Minute.Seconds())
			}
			assert.Equal(t, lo.Seconds(), *c.Verdict.Earliest)
			assert.Equal(t, hi.Seconds(), *c.Verdict.Latest)

			r := keepaliveCmd(t, "why", "--netns", top.Client, local, remote)
			require.Equal(t, 0, r.code, r.stderr)
			t.Logf("keepalive why:\n%s", r.stdout)
			assert.NotContains(t, r.stdout, "stopped reading")
			assert.NotContains(t, r.stdout, "never")
			assert.Contains(t, r.stdout, "Verdict: the kernel ends it "+dur(lo)+" to "+dur(hi)+" after the write")

			r = keepaliveCmd(t, "conns", "--netns", top.Client, "--state", "established")
			require.Equal(t, 0, r.code, r.stderr)
			t.Logf("keepalive conns:\n%s", r.stdout)
			assert.Regexp(t, `window-probe [0-9.]+m?s \(\d+ unanswered\)`, r.stdout)
		})
	}
}
