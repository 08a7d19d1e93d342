// Package layers adds gRPC to the library's layers.Within, so that one
// deadline sets every layer a service uses. It lives in the examples module so that gRPC
// stays out of the library's go.mod; copy it, or import it from here.
package layers

import (
	"fmt"
	"syscall"
	"time"

	grpckeepalive "google.golang.org/grpc/keepalive"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/heartbeat"
	"github.com/keepalive-go/keepalive/layers"
)

// MinGRPCClientTime is grpc-go's floor on ClientParameters.Time: it raises
// anything shorter to 10 s.
const MinGRPCClientTime = 10 * time.Second

// Plan is layers.Plan with gRPC's settings.
type Plan struct {
	layers.Plan
	GRPC GRPC
}

// GRPC is gRPC's keepalive for one deadline: the client's and the server's
// pings, and a server policy that accepts the client's.
type GRPC struct {
	Client      grpckeepalive.ClientParameters
	Server      grpckeepalive.ServerParameters
	Enforcement grpckeepalive.EnforcementPolicy
	// TCP is the TCP Config as gRPC leaves it: gRPC replaces
	// TCP_USER_TIMEOUT with its keepalive Timeout, on a client whose Time
	// is set and on every server connection. TCPDetection is its bound.
	TCP          keepalive.Config
	TCPDetection keepalive.Detection
	// ClientMax and ServerMax bound each side's pings, from the last frame
	// received.
	ClientMax, ServerMax time.Duration
}

// Within returns settings for TCP, HTTP/2, a heartbeat and gRPC that each
// detect a dead or hung peer within deadline, behind a middlebox that
// forgets flows idle for middleboxIdle (zero: none).
func Within(deadline, middleboxIdle time.Duration) (Plan, error) {
	l, err := layers.Within(deadline, middleboxIdle)
	if err != nil {
		return Plan{}, err
	}
	g, err := GRPCWithin(deadline, l.TCP)
	if err != nil {
		return Plan{}, err
	}
	return Plan{Plan: l, GRPC: g}, nil
}

// GRPCWithin returns gRPC's keepalive for deadline, with tcp the Config
// the connections carry (keepalive.Within's).
func GRPCWithin(deadline time.Duration, tcp keepalive.Config) (GRPC, error) {
	p, err := heartbeat.Within(deadline, MinGRPCClientTime)
	if err != nil {
		return GRPC{}, fmt.Errorf("layers: gRPC: %w", err)
	}
	d, err := p.Detection()
	if err != nil {
		return GRPC{}, err
	}
	g := GRPC{
		Client: grpckeepalive.ClientParameters{Time: p.Interval, Timeout: p.Timeout, PermitWithoutStream: true},
		Server: grpckeepalive.ServerParameters{Time: p.Interval, Timeout: p.Timeout},
		// Half the client's Time: its pings come at least Time apart,
		// counted from the last frame it read, so jitter never makes three
		// strikes (a too_many_pings GOAWAY).
		Enforcement: grpckeepalive.EnforcementPolicy{MinTime: p.Interval / 2, PermitWithoutStream: true},
		TCP:         tcp,
		ClientMax:   d.IdleMax,
		ServerMax:   d.IdleMax,
	}
	g.TCP.UserTimeout = p.Timeout
	if g.TCPDetection, err = g.TCP.Detection(keepalive.System{}); err != nil {
		return GRPC{}, err
	}
	if worst := max(g.TCPDetection.IdleMax, g.TCPDetection.InFlightMax, g.TCPDetection.ZeroWindowMax); worst > deadline {
		return GRPC{}, fmt.Errorf("layers: gRPC's TCP_USER_TIMEOUT of %v makes %+v detect only within %v, past %v: %w",
			p.Timeout, tcp, worst, deadline, syscall.EINVAL)
	}
	return g, nil
}
