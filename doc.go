// Package keepalive makes a dead TCP peer visible in seconds instead of
// hours.
//
// When the host at the other end of a connection dies, its cable is pulled
// or a NAT forgets the flow, nothing comes back and the connection stays
// ESTABLISHED: with Linux's defaults a blocked Read waits 2h11m15s (7200 s
// idle + 9 probes × 75 s, and only if SO_KEEPALIVE is on at all), and writes
// go on "succeeding" into the send buffer for 15-17 minutes (tcp_retries2).
// A Config sets the four keepalive options and TCP_USER_TIMEOUT so that the
// kernel itself drops such a connection within a time you choose, and the
// blocked Read or Write returns ETIMEDOUT.
//
//	cfg := keepalive.Config{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3, UserTimeout: 25 * time.Second}
//	conn, err := cfg.Dial(ctx, "tcp", "db.internal:5432")   // a client
//	ln, err := cfg.Listen(ctx, "tcp", ":8080")              // a server
//	err = cfg.Apply(conn)                                    // a connection you already have
//	client := &http.Client{Transport: &http.Transport{DialContext: cfg.Dialer(nil).DialContext}}
//
// Or let the package pick the values for a deadline:
//
//	cfg, err := keepalive.Within(30*time.Second, 350*time.Second) // AWS NLB forgets flows after 350 s
//
// Every path reads back what it set in its tests: Dial, Dialer, Listen,
// WrapListener and Apply leave exactly the configured values on the socket,
// with one setsockopt per option, and Inspect returns what the kernel holds.
// Dial, Dialer and Listen also keep Go's own keepalive from running
// underneath (see below).
//
// # Fields and zero values
//
// A zero field leaves the value the socket already has: the system's value
// (sysctl) on a new socket, so Config{} turns keepalive on with the system's
// settings. Apply and WrapListener keep whatever the connection held before,
// which for a connection made by Go's net package without KeepAlive: -1 is
// Go's 15 s, 15 s, 9. Negative values are invalid.
//
// Go's net package applies its own keepalive (15 s idle, 15 s interval, 9
// probes) after a Control hook has run, unless KeepAlive is negative and
// KeepAliveConfig.Enable is false. Dialer, Dial and Listen turn that off, so
// the values set in the hook stay. Config.Control used directly in your own
// net.Dialer needs KeepAlive: -1 and a zero KeepAliveConfig.
//
// net.KeepAliveConfig uses other conventions (zero means Go's default,
// negative the system's); NetConfig and FromNetConfig convert between the two.
//
// # Platform support
//
//	OS       Idle             Interval          Count            UserTimeout              inherited by accept
//	Linux    TCP_KEEPIDLE     TCP_KEEPINTVL     TCP_KEEPCNT      TCP_USER_TIMEOUT         (applied per connection)
//	         s, 1..32767      s, 1..32767       1..127           ms, 0..2^31-1
//	others   not supported yet: every call returns an error wrapping errors.ErrUnsupported that names the OS
//
// Idle and Interval are rounded up to whole seconds, UserTimeout to whole
// milliseconds: the kernel never probes sooner than asked (see Rounded).
// Validate checks the ranges after rounding, before any syscall.
//
// Multipath TCP: Go 1.24+ listens with Multipath TCP by default on Linux, and
// a Multipath TCP socket refuses TCP_USER_TIMEOUT (ENOPROTOOPT). Listen
// therefore uses a plain TCP listener when UserTimeout is set, and Dialer
// dials plain TCP when UserTimeout is set. Apply and Control on a Multipath
// TCP socket with UserTimeout set return an error wrapping
// errors.ErrUnsupported and change nothing; a *Listener closes such a
// connection and reports it (Listener.OnError) and goes on accepting.
//
// # Detection time
//
// On an idle connection (nothing unacknowledged), from the last segment
// received from the dead peer to the failing Read (Linux,
// net/ipv4/tcp_timer.c):
//
//	UserTimeout zero   Idle + Count*Interval
//	UserTimeout set    Idle + k*Interval, k = max(1, ceil((UserTimeout-Idle)/Interval))
//
// (with UserTimeout set the kernel ignores Count and checks the user timeout
// only when a probe timer fires, after at least one probe). Timers never fire
// early but the timer wheel rounds them up, by at most 8/63 of their length
// plus a tick whatever the kernel's HZ (at HZ 1000: 64 ms for a 1 s timer).
// DetectionTime is the model with timers on time; WorstCaseDetectionTime adds
// the slack of every timer; EarliestDetectionTime is the model too, except
// when UserTimeout sits just above a probe time, where a late timer can end
// the connection one probe sooner. Measured on Linux 6.18 (HZ 250) against a
// peer that stopped answering: Idle 1 s, Interval 1 s, Count 3 -> 4.09 s
// (model 4 s, worst case 4.55 s).
//
// With data in flight keepalive does not probe. From the first
// retransmission (one retransmission timeout, at least 200 ms, after the
// write):
//
//	UserTimeout set    UserTimeout
//	UserTimeout zero   tcp_retries2 budget: 924.6 s with the default 15, up to 135 s more
//
// InFlightDetectionTime returns that window; Retransmission.Timeout has the
// formula. Measured: UserTimeout 1.5 s -> 1.92 s after the write.
//
// Keep Idle below the idle timeout of any NAT or load balancer on the path
// (AWS NLB 350 s, Azure 240 s, Google Cloud 600 s), or it forgets the flow
// between probes; Within does that for you.
package keepalive
