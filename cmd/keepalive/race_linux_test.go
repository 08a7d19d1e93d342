//go:build race

package main

// raceEnabled: the tests build the command with the race detector too.
const raceEnabled = true
