//go:build race

package keepalive_test

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation counts mean nothing in this build.
const raceEnabled = true
