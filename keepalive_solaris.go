//go:build solaris && !illumos

package keepalive

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Oracle Solaris 11.4 numbers its options differently from illumos (whose
// numbers golang.org/x/sys carries): see Go's net/tcpsockopt_solaris.go.
var sockopts = tcpOpts{0x1D, 0x1E, 0x1F, unix.TCP_ABORT_THRESHOLD}

const refusedHint = "TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT need Oracle Solaris 11.4"

// A Solaris before 11.4, or illumos running a GOOS=solaris build (illumos
// leaves 0x1D..0x1F unassigned), cannot take the options: every call says so.
func init() {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return // setsockopt will say what is wrong
	}
	version := unix.ByteSliceToString(u.Version[:])
	major, minor, ok := parseSolarisVersion(version)
	switch {
	case !ok:
		hostErr = fmt.Errorf("keepalive: uname version %q is not Oracle Solaris 11.4 or later (illumos? build with GOOS=illumos): %w",
			version, errors.ErrUnsupported)
		hostPlatform = nil
	case major < 11 || major == 11 && minor < 4:
		hostErr = fmt.Errorf("keepalive: Solaris %s has no TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT (11.4 added them): %w",
			version, errors.ErrUnsupported)
		hostPlatform = nil
	}
}

// parseSolarisVersion reads "11.4.0.15.0" (Oracle Solaris 11.4's uname -v).
func parseSolarisVersion(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

// readSystem returns the keepalive values a socket gets when it sets
// none. Solaris keeps them in the TCP tunables _keepalive_interval and
// _keepalive_abort_interval (ipadm show-prop tcp), which a program cannot
// read, so it returns an error wrapping errors.ErrUnsupported.
func readSystem() (System, error) {
	return System{}, errNoDefaults("the TCP tunables _keepalive_interval and _keepalive_abort_interval (ipadm show-prop tcp)")
}
