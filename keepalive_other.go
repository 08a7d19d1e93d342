//go:build !linux

package keepalive

// Every operating system but Linux is refused for now, clearly: each call
// that would touch a socket or read system settings returns an error that
// names the OS and wraps errors.ErrUnsupported.

// osLimits is empty: Validate reports the OS as unsupported.
var osLimits limits

func setOptions(uintptr, Config) error { return errUnsupported() }

func getOptions(uintptr) (Config, bool, error) { return Config{}, false, errUnsupported() }

// SystemDefaults returns the keepalive values a socket gets when it sets
// none. On this operating system it is not supported yet.
func SystemDefaults() (Config, error) { return Config{}, errUnsupported() }

// SystemRetransmission returns the retransmission settings that bound
// detection with data in flight. On this operating system it is not
// supported yet.
func SystemRetransmission() (Retransmission, error) { return Retransmission{}, errUnsupported() }
