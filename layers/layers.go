// Package layers turns one deadline into settings for each layer of a
// connection, each with its worst case. TCP keepalive finds a dead host or
// a lost path; the pings above it (HTTP/2's, a heartbeat.Monitor's, gRPC's
// in the examples module) also find a peer whose process hangs and,
// through an L4 proxy, a dead server behind it. docs/layers.md has the
// derivation.
package layers

import (
	"fmt"
	"net/http"
	"syscall"
	"time"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/heartbeat"
)

// Plan is one deadline made into settings for each layer.
type Plan struct {
	// TCP is keepalive.Within(deadline, middleboxIdle); TCPDetection its
	// bounds on a connection whose RTO is at most 1 s.
	TCP          keepalive.Config
	TCPDetection keepalive.Detection
	// Heartbeat pings every Interval and waits Timeout, a third of the
	// deadline, and pings more often than the middlebox forgets a flow;
	// HeartbeatDetection is its bound.
	Heartbeat          heartbeat.Config
	HeartbeatDetection keepalive.Detection
	// HTTP2Transport and HTTP2Server ping a connection that has received
	// no frame for the Heartbeat's Interval and close it if the answer
	// takes longer than its Timeout, or if a write makes no progress for
	// their sum. HTTP2Max bounds each of these, from the last frame
	// received or the stalled write.
	HTTP2Transport, HTTP2Server http.HTTP2Config
	HTTP2Max                    time.Duration
}

// Within returns settings for every layer that detect a dead or hung peer
// within deadline, behind a middlebox that forgets flows idle for
// middleboxIdle (zero: none). It fails as keepalive.Within does, or with
// an error wrapping syscall.EINVAL for a deadline too short for a 1 s ping.
func Within(deadline, middleboxIdle time.Duration) (Plan, error) {
	var p Plan
	var err error
	if p.TCP, err = keepalive.Within(deadline, middleboxIdle); err != nil {
		return Plan{}, err
	}
	if p.TCPDetection, err = p.TCP.Detection(keepalive.System{}); err != nil {
		return Plan{}, err
	}
	if p.Heartbeat, err = heartbeat.Within(deadline, 0); err != nil {
		return Plan{}, err
	}
	if middleboxIdle > 0 {
		// A ping starts at most Interval + Slack after the last one ended:
		// that gap must stay below the middlebox's idle timeout. A shorter
		// Interval only makes the deadline safer.
		longest := ((middleboxIdle - 1 - heartbeat.Slack(middleboxIdle)) / time.Second) * time.Second
		if longest < time.Second {
			return Plan{}, fmt.Errorf("layers: Within: a middlebox idle timeout of %v leaves no whole-second ping interval below it: %w", middleboxIdle, syscall.EINVAL)
		}
		p.Heartbeat.Interval = min(p.Heartbeat.Interval, longest)
	}
	if p.HeartbeatDetection, err = p.Heartbeat.Detection(); err != nil {
		return Plan{}, err
	}
	h := http.HTTP2Config{
		SendPingTimeout:  p.Heartbeat.Interval,
		PingTimeout:      p.Heartbeat.Timeout,
		WriteByteTimeout: p.Heartbeat.Interval + p.Heartbeat.Timeout,
	}
	p.HTTP2Transport, p.HTTP2Server = h, h
	p.HTTP2Max = p.HeartbeatDetection.IdleMax
	return p, nil
}
