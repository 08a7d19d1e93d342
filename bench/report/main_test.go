package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `goos: linux
BenchmarkApply/opts=4/impl=raw-2         	  100	      1000 ns/op	       0 B/op	       0 allocs/op
BenchmarkApply/opts=4/impl=raw-2         	  100	      1200 ns/op	       0 B/op	       0 allocs/op
BenchmarkApply/opts=4/impl=raw-2         	  100	      1100 ns/op	       0 B/op	       0 allocs/op
BenchmarkApply/opts=4/impl=keepalive-2   	  100	      1300 ns/op	      16 B/op	       1 allocs/op
BenchmarkApply/opts=4/impl=keepalive-2   	  100	      1100 ns/op	      16 B/op	       1 allocs/op
BenchmarkPaired/Apply/opts=4/vs=raw-2    	  100	    300000 ns/op	         1.061 ratio
BenchmarkPaired/Apply/opts=4/vs=raw-2    	  100	    300000 ns/op	         1.001 ratio
BenchmarkPaired/Apply/opts=4/vs=raw-2    	  100	    300000 ns/op	         1.071 ratio
PASS
`

func TestParseMedians(t *testing.T) {
	b, err := parse(strings.NewReader(sample))
	require.NoError(t, err)
	require.Len(t, b, 3)
	m, ok := b["BenchmarkApply/opts=4/impl=raw"].median("ns/op")
	require.True(t, ok)
	assert.Equal(t, 1100.0, m)
	m, _ = b["BenchmarkApply/opts=4/impl=keepalive"].median("ns/op")
	assert.Equal(t, 1200.0, m, "even count: mean of the middle two")
}

// A target missed is said, with by how much; missing benchmarks are not
// passed over in silence.
func TestTargetsSayMissed(t *testing.T) {
	b, err := parse(strings.NewReader(sample))
	require.NoError(t, err)
	var out bytes.Buffer
	complete, met := printTargets(&out, b, nil)
	assert.False(t, complete, "most benchmarks are missing")
	assert.False(t, met, "Apply misses its target")
	line := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "| Apply vs raw floor (4 options)") {
			line = l
		}
	}
	require.NotEmpty(t, line, out.String())
	assert.Contains(t, line, "| 1.091 | 1.061 |", "ratio of medians, then the paired ratio")
	assert.Contains(t, line, "**no**: 1.1 points over, allocates", "the verdict uses the paired ratio")
	assert.Contains(t, out.String(), "| Config.Dial vs net.Dialer{KeepAliveConfig} (4 options; at most 1 allocation more) | missing |")
}

// No allocs/op is no evidence: the target is reported missing, never met.
func TestTargetsNeedEveryFigure(t *testing.T) {
	noAllocs := regexp.MustCompile(`\s+\d+ B/op\s+\d+ allocs/op`).ReplaceAllString(sample, "")
	b, err := parse(strings.NewReader(noAllocs))
	require.NoError(t, err)
	var out bytes.Buffer
	complete, _ := printTargets(&out, b, nil)
	assert.False(t, complete)
	assert.Contains(t, out.String(), "| Apply vs raw floor (4 options) | missing ns/op or allocs/op")
}
