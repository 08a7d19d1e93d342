// Package keepalive makes a dead TCP peer visible in seconds instead of
// hours.
//
// When the host at the other end of a connection dies or a NAT forgets the
// flow, nothing comes back and the connection stays ESTABLISHED: with
// Linux's defaults a blocked Read waits 2h11m15s, if SO_KEEPALIVE is on at
// all, and unacknowledged writes are retried for 15 minutes or more. A
// Config sets the keepalive options and the user timeout (TCP_USER_TIMEOUT
// on Linux) so that the kernel itself fails the blocked call within a time
// you choose, and Config.Detection says what that time is:
//
//	cfg := keepalive.Config{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3, UserTimeout: 25 * time.Second}
//	conn, err := cfg.Dial(ctx, "tcp", "db.internal:5432") // a client
//	ln, err := cfg.Listen(ctx, "tcp", ":8080")             // a server
//	err = cfg.Apply(existing)                              // a connection you already have
//
//	cfg, err = keepalive.Within(30*time.Second, 350*time.Second) // a deadline, below a 350 s NAT idle timeout
//	sys, err := keepalive.ReadSystem()                           // the system's values, for zero fields
//	d, err := cfg.Detection(sys)                                 // d.IdleMax, d.InFlightMax
//
// A zero field means the system's value, so Config{} only turns keepalive
// on. Invalid values are refused before any system call. Dial, Dialer and
// Listen keep Go's own keepalive (15 s, 15 s, 9) from overwriting the
// Config; Config.Control used in your own net.Dialer needs KeepAlive: -1.
//
// The error the blocked call returns depends on the system and the
// failure: usually ETIMEDOUT, but on Linux an abort with data in flight can
// return the last soft error (EHOSTUNREACH, ENETUNREACH) instead, and on
// Windows a timeout is WSAETIMEDOUT, for which errors.Is(err,
// syscall.ETIMEDOUT) is false.
//
// TCP keepalive sees only the next TCP hop: a hung peer process, or a dead
// server behind a proxy, still answers it. Package heartbeat pings through
// the application and closes the connection hard when a ping fails;
// package layers turns one deadline into TCP, HTTP/2 and heartbeat
// settings (docs/layers.md).
//
// Each OS has its own options, units and ranges; docs/platforms.md lists
// them, with their sources and what is verified where. docs/detection.md
// derives the detection model and has the times measured on Linux
// (https://github.com/keepalive-go/keepalive/tree/main/docs).
package keepalive
