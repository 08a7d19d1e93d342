//go:build !unix && !windows

package keepalive

// Every GOOS that is neither Unix nor Windows (js, wasip1, plan9) has no
// TCP keepalive options and no platform: every call that would touch a
// socket or read system settings returns an error that names the OS and
// wraps errors.ErrUnsupported.

func setOptions(uintptr, Config) error { return errUnsupported() }

func getOptions(uintptr) (Config, bool, error) { return Config{}, false, errUnsupported() }

// readSystem returns the keepalive values a socket gets when it sets
// none. This operating system has no TCP keepalive options.
func readSystem() (System, error) { return System{}, errUnsupported() }

func isTCPSocket(uintptr) bool { return false }
