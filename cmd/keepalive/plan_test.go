package main

import (
	"bytes"
	"flag"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/stretchr/testify/assert"
)

// linuxFacts are texts true only of Linux: plan and the flag help must not
// print them on other systems.
var linuxFacts = []string{"net.ipv4", "tcp_retries2", "Linux", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT",
	"TCP_USER_TIMEOUT", "32767", "1..127", "7.7s", "timer wheel"}

func TestPlanWordingPerOS(t *testing.T) {
	sys := keepalive.Config{Idle: 7200 * time.Second, Interval: 75 * time.Second, Count: 8}
	for _, c := range []keepalive.Config{
		{Count: 3},                         // zero fields from the system
		{Idle: 10 * time.Second, Count: 3}, // no UserTimeout
		{Idle: 10 * time.Second, UserTimeout: 25 * time.Second, Interval: 5 * time.Second, Count: 3},
	} {
		p := planJSON{Config: toJSON(c), Model: must(predict(c, keepalive.System{})), Go: goCode(c, nil)}
		if c.UserTimeout > 0 { // as if Within had picked it
			p.Within = &withinJSON{seconds(time.Minute), seconds(350 * time.Second)}
		}
		if c.Idle == 0 {
			j := toJSON(sys)
			p.System = &j
		}
		var other, linux bytes.Buffer
		printPlan(&other, "darwin", c, sys, p)
		for _, f := range linuxFacts {
			assert.NotContains(t, other.String(), f, configString(c))
		}
		assert.Contains(t, other.String(), "the library's model for darwin", configString(c))
		if p.Within != nil {
			assert.Contains(t, other.String(), "UserTimeout = Idle + Count x Interval: bounds data in flight\n")
		}
		if c.Idle == 0 {
			assert.Contains(t, other.String(), "Idle 7200s (keepalive idle)")
		}

		printPlan(&linux, "linux", c, sys, p)
		assert.Contains(t, linux.String(), "timer wheel", "Linux keeps its formula")
		if c.Idle == 0 {
			assert.Contains(t, linux.String(), "Idle 7200s (net.ipv4.tcp_keepalive_time)")
		}
	}
}

func TestFlagHelpPerOS(t *testing.T) {
	for _, goos := range []string{"darwin", "freebsd", "windows", "illumos"} {
		for _, h := range flagHelp(goos) {
			for _, f := range linuxFacts {
				assert.NotContains(t, h, f, goos)
			}
		}
	}
	lh := flagHelp("linux")
	assert.Contains(t, strings.Join(lh[:], " "), "1s..32767s")

	// The flags carry the help of the OS the command runs on.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	configFlags(fs, keepalive.Config{})
	assert.Equal(t, flagHelp(runtime.GOOS)[2], fs.Lookup("count").Usage)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
