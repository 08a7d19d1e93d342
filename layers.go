package keepalive

import (
	"fmt"
	"net/http"
	"syscall"
	"time"
)

// Layers is one deadline made into settings for each layer of a
// connection, each with its worst case. TCP keepalive finds a dead host or
// a lost path; the pings above it (HTTP/2, a Heartbeat, gRPC's in the
// examples module) also find a peer whose process hangs, and, through an
// L4 proxy, a dead server behind it. docs/layers.md has the derivation.
type Layers struct {
	// TCP is Within(deadline, middleboxIdle); TCPDetection its bounds on a
	// connection whose RTO is at most 1 s.
	TCP          Config
	TCPDetection Detection
	// Heartbeat pings every Interval and waits Timeout, a third of the
	// deadline; HeartbeatDetection is its bound.
	Heartbeat          Heartbeat
	HeartbeatDetection Detection
	// HTTP2Transport and HTTP2Server ping a connection that has received
	// no frame for the Heartbeat's Interval and close it if the answer
	// takes longer than its Timeout, or if a write makes no progress for
	// their sum. HTTP2Max bounds each of these, from the last frame
	// received or the stalled write.
	HTTP2Transport, HTTP2Server http.HTTP2Config
	HTTP2Max                    time.Duration
}

// Plan returns settings for every layer that detect a dead or hung peer
// within deadline, behind a middlebox that forgets flows idle for
// middleboxIdle (zero: none). It fails as Within does, or with an error
// wrapping syscall.EINVAL for a deadline too short for a 1 s ping.
func Plan(deadline, middleboxIdle time.Duration) (Layers, error) {
	var l Layers
	var err error
	if l.TCP, err = Within(deadline, middleboxIdle); err != nil {
		return Layers{}, err
	}
	if l.TCPDetection, err = l.TCP.Detection(System{}); err != nil {
		return Layers{}, err
	}
	if l.Heartbeat, err = PingsWithin(deadline, 0); err != nil {
		return Layers{}, err
	}
	if l.HeartbeatDetection, err = l.Heartbeat.Detection(); err != nil {
		return Layers{}, err
	}
	h := http.HTTP2Config{
		SendPingTimeout:  l.Heartbeat.Interval,
		PingTimeout:      l.Heartbeat.Timeout,
		WriteByteTimeout: l.Heartbeat.Interval + l.Heartbeat.Timeout,
	}
	l.HTTP2Transport, l.HTTP2Server = h, h
	l.HTTP2Max = l.HeartbeatDetection.IdleMax
	return l, nil
}

// PingsWithin returns the Heartbeat whose worst case, Interval + Timeout +
// HeartbeatSlack, is at most deadline: Timeout a third of deadline in
// whole seconds (at least 1 s, and less where Interval must be at least
// minInterval), Interval the longest whole number of seconds that fits.
// Any ping with an interval and a timeout (HTTP/2's, gRPC's) can take the
// two values.
func PingsWithin(deadline, minInterval time.Duration) (Heartbeat, error) {
	minInterval = max(time.Second, minInterval)
	// (Interval + Timeout) + 100ms + (Interval + Timeout)/32 <= deadline.
	sum := time.Duration(0)
	if deadline > 100*time.Millisecond {
		sum = ((deadline - 100*time.Millisecond) / 33 * 32).Truncate(time.Second)
	}
	timeout := max(time.Second, (deadline / 3).Truncate(time.Second))
	interval := max(sum-timeout, minInterval)
	timeout = sum - interval
	if timeout < time.Second {
		need := minInterval + time.Second
		return Heartbeat{}, fmt.Errorf("keepalive: PingsWithin: a deadline of %v is too short for pings at least %v apart with a timeout of at least 1s (the shortest is %v): %w",
			deadline, minInterval, satAdd(need, HeartbeatSlack(need)), syscall.EINVAL)
	}
	return Heartbeat{Interval: interval, Timeout: timeout}, nil
}
