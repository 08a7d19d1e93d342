package keepalive

import "golang.org/x/sys/unix"

var sockopts = tcpOpts{unix.TCP_KEEPIDLE, unix.TCP_KEEPINTVL, unix.TCP_KEEPCNT, unix.TCP_ABORT_THRESHOLD}

const refusedHint = "is it a TCP socket?"

// readSystem returns the keepalive values a socket gets when it sets
// none. illumos keeps them in the TCP tunables _keepalive_interval and
// _keepalive_abort_interval (ipadm show-prop tcp), which a program cannot
// read, so it returns an error wrapping errors.ErrUnsupported; the model
// uses the compiled-in defaults (7200 s idle, 480 s of probing).
func readSystem() (System, error) {
	return System{}, errNoDefaults("the TCP tunables _keepalive_interval and _keepalive_abort_interval (ipadm show-prop tcp)")
}
