// Command silentpeer is a dead peer for tests that cannot make one
// themselves, such as the Windows tests under Wine (see .ci/run): it
// listens on a loopback port, prints the address, and silences every
// connection it accepts (keepalivetest.Silence; Linux only), so the dialer's
// keepalive probes go unanswered. It exits after -for.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/keepalive-go/keepalive/keepalivetest"
)

func main() {
	lifetime := flag.Duration("for", 10*time.Minute, "exit after this long")
	flag.Parse()
	// No keepalive of its own: its probes would reach the dialer.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "silentpeer:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	time.AfterFunc(*lifetime, func() { os.Exit(0) })
	for {
		conn, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "silentpeer:", err)
			os.Exit(1)
		}
		if err := keepalivetest.Silence(conn); err != nil {
			fmt.Fprintln(os.Stderr, "silentpeer:", err)
			os.Exit(1)
		}
		// Reading keeps conn open (a collected one would be closed); nothing
		// ever arrives.
		go io.Copy(io.Discard, conn)
	}
}
