//go:build !race && linux

package keepalive_test

const raceEnabled = false
