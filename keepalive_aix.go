package keepalive

import "golang.org/x/sys/unix"

// AIX has no user-timeout analogue.
var sockopts = tcpOpts{unix.TCP_KEEPIDLE, unix.TCP_KEEPINTVL, unix.TCP_KEEPCNT, -1}

const refusedHint = "is it a TCP socket?"

// readSystem returns the keepalive values a socket gets when it sets
// none. AIX keeps them in network tunables (no -o tcp_keepidle, in half
// seconds) that golang.org/x/sys cannot read, so it returns an error
// wrapping errors.ErrUnsupported; the model uses the compiled-in defaults
// (7200 s, 75 s, 8).
func readSystem() (System, error) {
	return System{}, errNoDefaults("the network tunables tcp_keepidle, tcp_keepintvl and tcp_keepcnt (no -o)")
}
