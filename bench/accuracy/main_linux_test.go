package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/internal/faultlab"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// TestMain lets the test binary serve as the network namespace child, as
// the program does.
func TestMain(m *testing.M) {
	faultlab.ServePeer()
	if name := os.Getenv(envChild); name != "" {
		os.Exit(child(name, os.Stdout))
	}
	os.Exit(m.Run())
}

// A short subset of the grid, one row of each kind, so CI proves the
// program measures what it says: about 7 s, bounded by the rows' own waits.
func TestGridSubset(t *testing.T) {
	t.Parallel()
	rows, err := selectRows(`^(Idle 1s, Interval 1s, Count 1 \(idle\)|UserTimeout 1.5s \(in flight\)|Idle 60s, tcp_retries2 3 \(in flight\)|own link down, idle \(failure lab\))$`)
	require.NoError(t, err)
	require.Len(t, rows, 4)
	results := runGrid(rows, "tcp4")
	for _, r := range results {
		if r.Skipped != "" {
			testkit.Skip(t, r.Name+": "+r.Skipped)
			continue
		}
		assert.Empty(t, r.Err, r.Name)
		assert.True(t, r.inBounds(), "%s: measured %v outside [%v, %v]", r.Name, r.Measured, r.Earliest, r.Worst)
		assert.Positive(t, r.Predicted, r.Name)
	}
	var out bytes.Buffer
	printTable(&out, results, 0, "tcp4")
	assert.Equal(t, 2+len(rows), strings.Count(out.String(), "\n|"), "a header, a rule and one line per row:\n%s", &out)
	assert.Empty(t, failures(results))
	t.Logf("\n%s", &out)
}

// Out-of-bounds measurements are reported, not hidden.
func TestInBounds(t *testing.T) {
	r := result{Predicted: 4e9, Earliest: 4e9, Worst: 4.5e9}
	for measured, want := range map[float64]bool{3.5e9: false, 3.995e9: true, 4.2e9: true, 5e9: true, 5.1e9: false} {
		r.Measured = time.Duration(measured)
		assert.Equal(t, want, r.inBounds(), "measured %v", r.Measured)
	}
	r.Err = "boom"
	r.Measured = 4.2e9
	assert.False(t, r.inBounds(), "an error is never within bounds")
	assert.Equal(t, []string{"x"}, failures([]result{{Name: "x", Err: "boom"}, {Name: "y", Skipped: "no root"}}))
}
