//go:build !windows

package testkit

// Wine returns "": Wine runs Windows programs only.
func Wine() string { return "" }
