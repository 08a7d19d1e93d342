package keepalive

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Oracle Solaris 11.4: illumos's options under other numbers (Go's
// net/tcpsockopt_solaris.go), TCP_KEEPIDLE and TCP_KEEPINTVL 10 s to 10
// days (tcp(4P)). Not verified on a real system.
var solarisPlatform = func() platform {
	p := illumosPlatform
	p.name = "solaris"
	p.idle.num = 0x1D
	p.interval = durOpt{"TCP_KEEPINTVL", 0x1E, second, 10 * second, 864000 * second}
	p.count = countOpt{"TCP_KEEPCNT", 0x1F, 429496} // 10 s * 429496 < 2^32 ms; maxProbing bounds the product
	p.refusedHint = "TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT need Oracle Solaris 11.4"
	p.release = "uname -v"
	return p
}()

// solarisRelease takes uname's version, "11.4.0.15.0" on Oracle Solaris
// 11.4. An older Solaris, or illumos running a GOOS=solaris build (illumos
// leaves 0x1D..0x1F unassigned), cannot take the options.
func solarisRelease(version string) (*platform, error) {
	major, minor, ok := parseSolarisVersion(version)
	switch {
	case !ok:
		return nil, fmt.Errorf("keepalive: uname version %q is not Oracle Solaris 11.4 or later (illumos? build with GOOS=illumos): %w",
			version, errors.ErrUnsupported)
	case major < 11 || major == 11 && minor < 4:
		return nil, fmt.Errorf("keepalive: Solaris %s has no TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT (11.4 added them): %w",
			version, errors.ErrUnsupported)
	}
	return &solarisPlatform, nil
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
