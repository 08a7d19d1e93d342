package keepalive

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// osRelease returns RtlGetVersion's "major.minor.build", by which
// windowsRelease picks the platform.
func osRelease(string) (string, error) {
	v := windows.RtlGetVersion()
	return fmt.Sprintf("%d.%d.%d", v.MajorVersion, v.MinorVersion, v.BuildNumber), nil
}

func usesSIO() bool { return host() == &windowsSIOPlatform }

// setOptions sets c, already validated and rounded, in the order settings
// gives; before build 16299, SIO_KEEPALIVE_VALS then sets the idle time and
// interval together.
func setOptions(sysfd uintptr, c Config) error {
	fd := windows.Handle(sysfd)
	if usesSIO() && (c.Idle == 0 || c.Interval == 0) {
		// SIO_KEEPALIVE_VALS sets both: fill the one left zero from the
		// system before the first call, so a failure changes nothing.
		d, err := readSystem()
		if err != nil {
			return err
		}
		c = c.withDefaults(Config{Idle: d.Idle, Interval: d.Interval})
	}
	p := host()
	var s [5]setting
	for _, o := range s[:p.settings(c, &s)] {
		level, num := windows.IPPROTO_TCP, o.num
		if num == 0 {
			level, num = windows.SOL_SOCKET, windows.SO_KEEPALIVE
		}
		if err := setInt(fd, level, num, p.optName(o), o.v); err != nil {
			return err
		}
	}
	if usesSIO() {
		return setSIO(fd, c)
	}
	return nil
}

// setSIO sets idle time and interval together, as SIO_KEEPALIVE_VALS must
// (setOptions has filled a zero one with the system default, since Windows
// cannot report the socket's current value).
func setSIO(fd windows.Handle, c Config) error {
	ka := windows.TCPKeepalive{OnOff: 1, Time: uint32(c.Idle / time.Millisecond), Interval: uint32(c.Interval / time.Millisecond)}
	var ret uint32
	err := windows.WSAIoctl(fd, windows.SIO_KEEPALIVE_VALS, (*byte)(unsafe.Pointer(&ka)), uint32(unsafe.Sizeof(ka)), nil, 0, &ret, nil, 0)
	if err != nil {
		return fmt.Errorf("keepalive: setting SIO_KEEPALIVE_VALS to %v, %v: %w", c.Idle, c.Interval, os.NewSyscallError("wsaioctl", err))
	}
	return nil
}

func setInt(fd windows.Handle, level, opt int, name string, v int) error {
	err := windows.SetsockoptInt(fd, level, opt, v)
	if err == nil {
		return nil
	}
	if errors.Is(err, windows.WSAENOPROTOOPT) {
		return fmt.Errorf("keepalive: %s cannot be set on this socket: %w: %w", name, errors.ErrUnsupported, os.NewSyscallError("setsockopt", err))
	}
	return fmt.Errorf("keepalive: setting %s to %d: %w", name, v, os.NewSyscallError("setsockopt", err))
}

// getOptions reads what the socket holds. Before build 16299 Windows cannot
// report keepalive values at all.
func getOptions(sysfd uintptr, _ bool) (c Config, enabled bool, err error) {
	fd, p := windows.Handle(sysfd), host()
	if usesSIO() {
		return Config{}, false, fmt.Errorf("keepalive: %s cannot read keepalive values back: %w", p.name, errors.ErrUnsupported)
	}
	get := func(level, opt int, name string) int {
		if err != nil {
			return 0
		}
		var v int
		switch v, err = windows.GetsockoptInt(fd, level, opt); {
		case errors.Is(err, windows.WSAENOPROTOOPT):
			err = fmt.Errorf("keepalive: reading %s: %s cannot read it back: %w: %w", name, p.name, errors.ErrUnsupported, os.NewSyscallError("getsockopt", err))
		case err != nil:
			err = fmt.Errorf("keepalive: reading %s: %w", name, os.NewSyscallError("getsockopt", err))
		}
		return v
	}
	on := get(windows.SOL_SOCKET, windows.SO_KEEPALIVE, "SO_KEEPALIVE")
	c.Idle = time.Duration(get(windows.IPPROTO_TCP, p.idle.num, p.idle.name)) * p.idle.unit
	c.Interval = time.Duration(get(windows.IPPROTO_TCP, p.interval.num, p.interval.name)) * p.interval.unit
	c.Count = get(windows.IPPROTO_TCP, p.count.num, p.count.name)
	// TCP_MAXRT -1 means "never": no user timeout, as 0 does.
	c.UserTimeout = time.Duration(max(get(windows.IPPROTO_TCP, p.userTimeout.num, p.userTimeout.name), 0)) * p.userTimeout.unit
	if err != nil {
		return Config{}, false, err
	}
	return c, on != 0, nil
}

// readSystem returns the keepalive values a socket gets when it sets
// none: the registry values the host's platform names, or its defaults
// where they are absent, and its default count. UserTimeout is always zero.
func readSystem() (System, error) {
	p := host()
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, p.system.registryKey, registry.QUERY_VALUE)
	if err != nil {
		return System{}, fmt.Errorf("keepalive: reading the Tcpip parameters from the registry: %w", err)
	}
	defer k.Close()
	get := func(name string, def time.Duration) (time.Duration, error) {
		v, _, err := k.GetIntegerValue(name)
		switch {
		case errors.Is(err, registry.ErrNotExist):
			return def, nil
		case err != nil:
			return 0, fmt.Errorf("keepalive: reading registry value Tcpip\\Parameters\\%s: %w", name, err)
		}
		return time.Duration(v) * p.system.unit, nil
	}
	idle, err := get(p.system.idle, p.defaults.Idle)
	if err != nil {
		return System{}, err
	}
	intvl, err := get(p.system.interval, p.defaults.Interval)
	if err != nil {
		return System{}, err
	}
	return System{Idle: idle, Interval: intvl, Count: p.defaults.Count}, nil
}

// soType is SO_TYPE from winsock2.h, which golang.org/x/sys/windows lacks.
const soType = 0x1008

// isTCPSocket reports whether fd is an IPv4 or IPv6 stream socket.
func isTCPSocket(sysfd uintptr) bool {
	fd := windows.Handle(sysfd)
	if typ, err := windows.GetsockoptInt(fd, windows.SOL_SOCKET, soType); err != nil || typ != windows.SOCK_STREAM {
		return false
	}
	switch sa, _ := windows.Getsockname(fd); sa.(type) {
	case *windows.SockaddrInet4, *windows.SockaddrInet6:
		return true
	}
	return false
}

// pendingError is 0: Windows' SO_ERROR values are WSA codes, which the
// causes do not decide by.
func pendingError(uintptr) syscall.Errno { return 0 }
