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
// Each system sets what it can, under its own option names and units; a
// field it cannot set per connection is refused by Validate (an error
// wrapping errors.ErrUnsupported), never ignored, unless it is zero.
// Durations are rounded up to the option's unit (the kernel must never probe
// sooner than asked; see Rounded) and checked against its range before any
// system call. Listen and WrapListener set every option on each accepted
// connection, so whether a system copies options from the listener does not
// matter.
//
//	Linux, Android   TCP_KEEPIDLE s 1..32767, TCP_KEEPINTVL s 1..32767, TCP_KEEPCNT 1..127,
//	                 TCP_USER_TIMEOUT ms 0..2^31-1 (also ends keepalive probing).
//	                 Measured on Linux 6.18.
//	macOS, iOS       TCP_KEEPALIVE s 1..4294967, TCP_KEEPINTVL s 1..4294967, TCP_KEEPCNT 1..2^31-1,
//	                 TCP_RXT_CONNDROPTIME s. Accepted sockets do not inherit the idle time or
//	                 TCP_RXT_CONNDROPTIME. Defaults: sysctl net.inet.tcp.keepidle, keepintvl (ms), keepcnt.
//	FreeBSD          TCP_KEEPIDLE s 1..4294967, TCP_KEEPINTVL s 1..4294967, TCP_KEEPCNT 1..2^31-1,
//	                 TCP_MAXUNACKTIME s (FreeBSD 14+; before 14, read from kern.osreldate, Validate
//	                 refuses UserTimeout). Probes every connection while net.inet.tcp.always_keepalive
//	                 is 1 (default). Defaults: sysctls as macOS.
//	NetBSD           TCP_KEEPIDLE, TCP_KEEPINTVL in half seconds, 0.5..2147483 s (slow-timer ticks;
//	                 Go's own net package passes seconds, which NetBSD halves), TCP_KEEPCNT;
//	                 no UserTimeout.
//	                 Inspect cannot read the values back. Defaults: sysctls in ticks.
//	DragonFly        TCP_KEEPIDLE, TCP_KEEPINTVL s 1..2147483 (ms before 5.8, from kern.osreldate),
//	                 TCP_KEEPCNT; no UserTimeout. Defaults: sysctls as macOS.
//	OpenBSD          no per-socket values: SO_KEEPALIVE only, so Config{} is the one valid Config;
//	                 the sysctls net.inet.tcp.keepidle, keepintvl (s) and 8 probes apply.
//	illumos          TCP_KEEPIDLE s 10..864000, TCP_KEEPINTVL s 1..60 (the socket's RTO range),
//	                 TCP_KEEPCNT 1..71582, TCP_ABORT_THRESHOLD ms. Interval and Count must be set
//	                 together (the kernel derives the one left out from its 480 s default) and
//	                 Count*Interval fit 2^32 ms. SystemDefaults is unsupported (ipadm tunables).
//	Solaris          Oracle Solaris 11.4's option numbers, TCP_KEEPIDLE and TCP_KEEPINTVL s
//	                 10..864000, otherwise as illumos; older Solaris, or a GOOS=solaris binary on
//	                 illumos, is refused.
//	AIX              TCP_KEEPIDLE, TCP_KEEPINTVL s 1..2147483 (as Go's net package; unverified),
//	                 TCP_KEEPCNT; no UserTimeout.
//	Windows 10 1709+ TCP_KEEPIDLE s 1..4294967, TCP_KEEPINTVL s 1..4294967, TCP_KEEPCNT 1..255,
//	                 TCP_MAXRT s.
//	                 Defaults: registry KeepAliveTime, KeepAliveInterval (2 h, 1 s), 10 probes.
//	older Windows    SIO_KEEPALIVE_VALS: Idle and Interval in ms, set together (a zero one gets
//	                 the system default); always 10 probes, so Count must be 0; TCP_MAXRT s;
//	                 Inspect cannot read the values back.
//	js, wasip1, plan9  unsupported: every call returns an error wrapping errors.ErrUnsupported.
//
// Only Linux is tested here against a real dead peer; the other systems
// follow their kernels' sources and compile, vet and build their tests in
// CI, but their behaviour is not verified on real hardware. The README's
// platform table says where each fact comes from.
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
// only when a probe timer fires, after at least one probe). On the other
// systems it is Idle + Count*Interval whatever UserTimeout is (8 probes on
// OpenBSD, 10 with SIO_KEEPALIVE_VALS), plus a tick on illumos and Solaris,
// whose check is a strict >. Timers never fire early but the timer wheel
// rounds them up, by at most 8/63 of their length plus a tick whatever the
// kernel's HZ (at HZ 1000: 64 ms for a 1 s timer); macOS coalesces its
// keepalive timer to 500 ms.
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
//	UserTimeout set    UserTimeout (Linux), up to min(UserTimeout, 60-64 s) later elsewhere
//	UserTimeout zero   Linux: tcp_retries2 budget, 924.6 s with the default 15, up to 135 s more;
//	                   other systems: not modelled
//
// InFlightDetectionTime returns that window; Retransmission.Timeout has the
// formula. Measured: UserTimeout 1.5 s -> 1.92 s after the write.
//
// Keep Idle below the idle timeout of any NAT or load balancer on the path
// (AWS NLB 350 s, Azure 240 s, Google Cloud 600 s), or it forgets the flow
// between probes; Within does that for you.
package keepalive
