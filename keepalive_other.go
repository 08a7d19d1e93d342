//go:build !(aix || darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || solaris || windows)

package keepalive

// js, wasip1 and plan9 have no TCP keepalive options: host is nil, and
// every call that would touch a socket or read system settings returns an
// error that names the OS and wraps errors.ErrUnsupported.

func setOptions(uintptr, Config) error { return errUnsupported() }

func getOptions(uintptr) (Config, bool, error) { return Config{}, false, errUnsupported() }

// readSystem returns the keepalive values a socket gets when it sets
// none. This operating system has no TCP keepalive options.
func readSystem() (System, error) { return System{}, errUnsupported() }

func isTCPSocket(uintptr) bool { return false }
