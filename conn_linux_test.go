package keepalive_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// Values no default has (Go's 15 s/15 s/9, Linux's 7200 s/75 s/9), so a
// read-back cannot pass by accident.
var (
	full     = keepalive.Config{Idle: 37 * time.Second, Interval: 11 * time.Second, Count: 5, UserTimeout: 4321 * time.Millisecond}
	noUT     = keepalive.Config{Idle: 41 * time.Second, Interval: 13 * time.Second, Count: 6}
	rounding = keepalive.Config{Idle: 1500 * time.Millisecond, Interval: 2100 * time.Millisecond, Count: 1, UserTimeout: 1500 * time.Microsecond}
	zero     = keepalive.Config{}
	configs  = map[string]keepalive.Config{"full": full, "no user timeout": noUT, "rounding": rounding, "zero": zero}
)

// system is what a socket holds before anything sets it: the sysctls, read
// from /proc independently of the package.
func system(t *testing.T) keepalive.Config {
	t.Helper()
	return keepalive.Config{
		Idle:     time.Duration(sysctl(t, "tcp_keepalive_time")) * time.Second,
		Interval: time.Duration(sysctl(t, "tcp_keepalive_intvl")) * time.Second,
		Count:    sysctl(t, "tcp_keepalive_probes"),
	}
}

func sysctl(t *testing.T, name string) int {
	t.Helper()
	var v int
	b, err := os.ReadFile(filepath.Join("/proc/sys/net/ipv4", name))
	require.NoError(t, err)
	_, err = fmt.Sscan(string(b), &v)
	require.NoError(t, err)
	return v
}

// raw reads the five options with getsockopt, independently of Inspect.
func raw(t *testing.T, conn net.Conn) (keepalive.Config, bool) {
	t.Helper()
	rc, err := conn.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	var (
		c  keepalive.Config
		on int
	)
	require.NoError(t, rc.Control(func(fd uintptr) {
		get := func(level, opt int) int {
			v, err := unix.GetsockoptInt(int(fd), level, opt)
			if opt == unix.TCP_USER_TIMEOUT && errors.Is(err, unix.EOPNOTSUPP) {
				return 0 // a Multipath TCP socket: no user timeout
			}
			require.NoError(t, err)
			return v
		}
		on = get(unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		c.Idle = time.Duration(get(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)) * time.Second
		c.Interval = time.Duration(get(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL)) * time.Second
		c.Count = get(unix.IPPROTO_TCP, unix.TCP_KEEPCNT)
		c.UserTimeout = time.Duration(get(unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)) * time.Millisecond
	}))
	return c, on == 1
}

// assertHolds checks with getsockopt, and then with Inspect, that conn holds
// c, with the system's values for zero fields.
func assertHolds(t *testing.T, conn net.Conn, c keepalive.Config) {
	t.Helper()
	assertHoldsOver(t, conn, c, system(t))
}

// assertHoldsOver checks that conn holds c, rounded, with the values from
// under (what the socket held before) for c's zero fields.
func assertHoldsOver(t *testing.T, conn net.Conn, c, under keepalive.Config) {
	t.Helper()
	got, on := raw(t, conn)
	assert.True(t, on, "SO_KEEPALIVE is off")
	assert.Equal(t, orDefaults(c.Rounded(), under), got, "getsockopt")
	inspected, err := keepalive.Inspect(conn)
	assert.NoError(t, err)
	assert.Equal(t, got, inspected, "Inspect disagrees with getsockopt")
}

// orDefaults is c with its zero keepalive fields from d.
func orDefaults(c, d keepalive.Config) keepalive.Config {
	if c.Idle == 0 {
		c.Idle = d.Idle
	}
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.Count == 0 {
		c.Count = d.Count
	}
	return c
}

// mptcpOn says whether this kernel speaks Multipath TCP; Go falls back to
// plain TCP where it does not.
var mptcpOn = func() bool {
	b, err := os.ReadFile("/proc/sys/net/mptcp/enabled")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}()

func needMPTCP(t *testing.T) {
	if !mptcpOn {
		testkit.Skip(t, "skipping: Multipath TCP is off on this host (sysctl net.mptcp.enabled)")
	}
}

func mptcp(t *testing.T, conn net.Conn) bool {
	t.Helper()
	rc, err := conn.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	var proto int
	require.NoError(t, rc.Control(func(fd uintptr) {
		proto, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL)
	}))
	require.NoError(t, err)
	return proto == unix.IPPROTO_MPTCP
}

// plainDial dials with no keepalive of Go's, for the side under no test.
func plainDial(ctx context.Context, network, address string) (net.Conn, error) {
	return (&net.Dialer{KeepAlive: -1}).DialContext(ctx, network, address)
}

func TestDialedConnsHoldConfig(t *testing.T) {
	t.Parallel()
	userIdle := 0
	setIdle := func(fd uintptr) {
		userIdle++
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 100)
	}
	dialers := map[string]func(keepalive.Config) testkit.DialFunc{
		"Dial":        func(c keepalive.Config) testkit.DialFunc { return c.Dial },
		"Dialer(nil)": func(c keepalive.Config) testkit.DialFunc { return c.Dialer(nil).DialContext },
		"Dialer(Go values)": func(c keepalive.Config) testkit.DialFunc {
			return c.Dialer(&net.Dialer{KeepAlive: 30 * time.Second, KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 99 * time.Second}}).DialContext
		},
		"Dialer(Control)": func(c keepalive.Config) testkit.DialFunc {
			return c.Dialer(&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error { return rc.Control(setIdle) }}).DialContext
		},
		"Dialer(ControlContext)": func(c keepalive.Config) testkit.DialFunc {
			return c.Dialer(&net.Dialer{ControlContext: func(_ context.Context, _, _ string, rc syscall.RawConn) error { return rc.Control(setIdle) }}).DialContext
		},
		"Dialer(MultipathTCP)": func(c keepalive.Config) testkit.DialFunc {
			d := &net.Dialer{}
			d.SetMultipathTCP(true)
			return c.Dialer(d).DialContext
		},
	}
	calls := 0
	for _, lb := range testkit.Loopbacks(t) {
		for dname, dialer := range dialers {
			for cname, c := range configs {
				t.Run(lb.Network+"/"+dname+"/"+cname, func(t *testing.T) {
					client, _ := testkit.Pair(t, lb, mptcpListener(t, lb, true), dialer(c))
					under := system(t)
					if dname == "Dialer(Control)" || dname == "Dialer(ControlContext)" {
						under.Idle = 100 * time.Second // the user's hook ran first; c wins where it sets a value
					}
					assertHoldsOver(t, client, c, under)
					assert.False(t, mptcp(t, client), "plain TCP, whatever the base asked for")
				})
				if dname == "Dialer(Control)" || dname == "Dialer(ControlContext)" {
					calls++
				}
			}
		}
	}
	assert.Equal(t, calls, userIdle, "the user's Control hooks all ran")
}

func mptcpListener(t *testing.T, lb testkit.Loopback, on bool) net.Listener {
	t.Helper()
	lc := net.ListenConfig{KeepAlive: -1}
	lc.SetMultipathTCP(on)
	ln, err := lc.Listen(context.Background(), lb.Network, lb.Addr)
	require.NoError(t, err)
	return ln
}

func TestAcceptedConnsHoldConfig(t *testing.T) {
	t.Parallel()
	listeners := map[string]func(*testing.T, testkit.Loopback, keepalive.Config) net.Listener{
		"Listen": func(t *testing.T, lb testkit.Loopback, c keepalive.Config) net.Listener {
			ln, err := c.Listen(context.Background(), lb.Network, lb.Addr)
			require.NoError(t, err)
			return ln
		},
		"WrapListener(net.Listen)": func(t *testing.T, lb testkit.Loopback, c keepalive.Config) net.Listener {
			ln, err := net.Listen(lb.Network, lb.Addr) // Go sets 15 s/15 s/9 first
			require.NoError(t, err)
			return c.WrapListener(ln)
		},
		"WrapListener(plain TCP)": func(t *testing.T, lb testkit.Loopback, c keepalive.Config) net.Listener {
			return c.WrapListener(mptcpListener(t, lb, false))
		},
		"WrapListener(MultipathTCP)": func(t *testing.T, lb testkit.Loopback, c keepalive.Config) net.Listener {
			return c.WrapListener(mptcpListener(t, lb, true))
		},
	}
	mptcpDial := func(ctx context.Context, network, address string) (net.Conn, error) {
		d := &net.Dialer{KeepAlive: -1}
		d.SetMultipathTCP(true)
		return d.DialContext(ctx, network, address)
	}
	for _, lb := range testkit.Loopbacks(t) {
		for lname, listen := range listeners {
			for cname, c := range configs {
				// Zero fields hold the system's values on every path, also
				// where Go set its own 15 s/15 s/9 before c was applied.
				under := system(t)
				t.Run(lb.Network+"/"+lname+"/"+cname, func(t *testing.T) {
					_, server := testkit.Pair(t, lb, listen(t, lb, c), plainDial)
					assertHoldsOver(t, server, c, under)
				})
				if lname == "Listen" || lname == "WrapListener(plain TCP)" || !mptcpOn {
					// A Multipath TCP client falls back to plain TCP.
					// (On a Multipath TCP listener it gets Multipath TCP,
					// which WrapListener refuses: TestListenerSurvivesABadConnection.)
					t.Run(lb.Network+"/"+lname+"/"+cname+"/MultipathTCP client", func(t *testing.T) {
						_, server := testkit.Pair(t, lb, listen(t, lb, c), mptcpDial)
						require.False(t, mptcp(t, server), "plain TCP")
						assertHoldsOver(t, server, c, under)
					})
				}
			}
		}
	}
}

func TestListenAcceptsMultipathClients(t *testing.T) {
	t.Parallel()
	// Listen is plain TCP, so a Multipath TCP client falls back to TCP and
	// its connection holds the Config, user timeout included.
	for _, lb := range testkit.Loopbacks(t) {
		for _, c := range []keepalive.Config{full, noUT} {
			ln, err := c.Listen(context.Background(), lb.Network, lb.Addr)
			require.NoError(t, err)
			_, server := testkit.Pair(t, lb, ln, func(ctx context.Context, network, address string) (net.Conn, error) {
				d := &net.Dialer{}
				d.SetMultipathTCP(true)
				return d.DialContext(ctx, network, address)
			})
			assert.False(t, mptcp(t, server))
			assertHolds(t, server, c)
		}
	}
}

func TestApplyHoldsConfig(t *testing.T) {
	t.Parallel()
	for _, lb := range testkit.Loopbacks(t) {
		for cname, c := range configs {
			t.Run(lb.Network+"/"+cname, func(t *testing.T) {
				client, server := testkit.Pair(t, lb, nil, plainDial)
				require.NoError(t, c.Apply(client))
				assertHolds(t, client, c)
				// Through a *tls.Conn (NetConn) too.
				wrapped := tls.Server(server, &tls.Config{})
				require.NoError(t, c.Apply(wrapped))
				assertHolds(t, server, c)
				got, err := keepalive.Inspect(wrapped)
				require.NoError(t, err)
				assert.Equal(t, orDefaults(c.Rounded(), system(t)), got, "Inspect through *tls.Conn")
			})
		}
	}
}

// A Multipath TCP socket outlives a dead peer by net.mptcp.close_timeout
// whatever its keepalive: Dialer dials plain TCP, and Apply, Control and
// Inspect say so with ErrMultipathTCP, changing nothing.
func TestMultipath(t *testing.T) {
	t.Parallel()
	for _, lb := range testkit.Loopbacks(t) {
		for cname, c := range map[string]keepalive.Config{"full": full, "no user timeout": noUT} {
			t.Run(lb.Network+"/"+cname+"/Dialer dials plain TCP", func(t *testing.T) {
				d := &net.Dialer{}
				d.SetMultipathTCP(true)
				kd := c.Dialer(d)
				assert.False(t, kd.MultipathTCP())
				assert.True(t, d.MultipathTCP(), "base is not changed")
				client, _ := testkit.Pair(t, lb, mptcpListener(t, lb, true), kd.DialContext)
				assert.False(t, mptcp(t, client))
				assertHolds(t, client, c)
			})
			t.Run(lb.Network+"/"+cname+"/Control refuses", func(t *testing.T) {
				needMPTCP(t)
				fd, err := unix.Socket(map[string]int{"tcp4": unix.AF_INET, "tcp6": unix.AF_INET6}[lb.Network], unix.SOCK_STREAM, unix.IPPROTO_MPTCP)
				require.NoError(t, err)
				f := os.NewFile(uintptr(fd), "mptcp")
				defer f.Close()
				rc, err := f.SyscallConn()
				require.NoError(t, err)
				err = c.Control(lb.Network, "", rc)
				assert.ErrorIs(t, err, keepalive.ErrMultipathTCP)
				assert.ErrorIs(t, err, errors.ErrUnsupported)
				assert.ErrorContains(t, err, "SetMultipathTCP(false)", "says what to do")
				on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
				require.NoError(t, err)
				assert.Zero(t, on, "nothing set")
				// Go's own ListenConfig is Multipath TCP on Linux, and when
				// the hook refuses it Go retries with plain TCP.
				ln, err := (&net.ListenConfig{KeepAlive: -1, Control: c.Control}).Listen(context.Background(), lb.Network, lb.Addr)
				require.NoError(t, err)
				defer ln.Close()
				lrc, err := ln.(*net.TCPListener).SyscallConn()
				require.NoError(t, err)
				var proto int
				require.NoError(t, lrc.Control(func(fd uintptr) { proto, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL) }))
				require.NoError(t, err)
				assert.Equal(t, unix.IPPROTO_TCP, proto, "a plain TCP listener")
			})
			t.Run(lb.Network+"/"+cname+"/Apply and Inspect", func(t *testing.T) {
				needMPTCP(t)
				d := &net.Dialer{KeepAlive: -1}
				d.SetMultipathTCP(true)
				client, _ := testkit.Pair(t, lb, mptcpListener(t, lb, true), d.DialContext)
				require.True(t, mptcp(t, client))
				before, _ := raw(t, client)
				err := c.Apply(client)
				assert.ErrorIs(t, err, keepalive.ErrMultipathTCP)
				after, on := raw(t, client)
				assert.Equal(t, before, after, "nothing half-applied")
				assert.False(t, on)
				// Inspect gives the values and says they bound nothing.
				require.NoError(t, client.(*net.TCPConn).SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 7 * time.Second, Interval: 3 * time.Second, Count: 2}))
				got, err := keepalive.Inspect(client)
				assert.ErrorIs(t, err, keepalive.ErrMultipathTCP)
				assert.Equal(t, keepalive.Config{Idle: 7 * time.Second, Interval: 3 * time.Second, Count: 2}, got)
			})
		}
	}
}

// A listener keeps serving when one accepted connection cannot take the
// Config: here a Multipath TCP client on a Multipath TCP listener (Go's
// net.Listen on Linux), whose connection no Config can bound.
func TestListenerSurvivesABadConnection(t *testing.T) {
	t.Parallel()
	needMPTCP(t)
	for _, lb := range testkit.Loopbacks(t) {
		t.Run(lb.Network, func(t *testing.T) {
			inner, err := net.Listen(lb.Network, lb.Addr)
			require.NoError(t, err)
			ln := full.WrapListener(inner)
			var reported atomic.Pointer[error]
			ln.OnError(func(conn net.Conn, err error) { reported.Store(&err) })
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := keepalive.Inspect(r.Context().Value(connKey{}).(net.Conn))
				if err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				fmt.Fprint(w, c.UserTimeout)
			}), ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				return context.WithValue(ctx, connKey{}, c)
			}}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })

			d := &net.Dialer{}
			d.SetMultipathTCP(true)
			bad, err := d.Dial(lb.Network, ln.Addr().String())
			require.NoError(t, err)
			defer bad.Close()
			require.NoError(t, bad.SetReadDeadline(time.Now().Add(5*time.Second)))
			_, err = bad.Read(make([]byte, 1))
			assert.ErrorIs(t, err, io.EOF, "the server closed the connection it could not configure")
			if p := reported.Load(); assert.NotNil(t, p, "the failure was reported") {
				assert.ErrorIs(t, *p, keepalive.ErrMultipathTCP)
			}
			assert.Equal(t, uint64(1), ln.Dropped())

			client := &http.Client{Transport: &http.Transport{DialContext: plainDial}, Timeout: 5 * time.Second}
			resp, err := client.Get("http://" + ln.Addr().String())
			require.NoError(t, err, "the server goes on serving")
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, full.UserTimeout.String(), string(body))
		})
	}
}

type connKey struct{}

func TestInvalidConfigIsRefusedBeforeAnySyscall(t *testing.T) {
	t.Parallel()
	bad := keepalive.Config{Idle: 5 * time.Second, Count: 200}
	for _, lb := range testkit.Loopbacks(t) {
		client, _ := testkit.Pair(t, lb, nil, plainDial)
		before, beforeOn := raw(t, client)
		ln := mptcpListener(t, lb, false)
		defer ln.Close()

		errs := map[string]error{"Validate": bad.Validate(), "Apply": bad.Apply(client)}
		// Dialing a listening address: an unvalidated dial would succeed.
		_, errs["Dial"] = bad.Dial(context.Background(), lb.Network, ln.Addr().String())
		_, errs["Dialer"] = bad.Dialer(nil).Dial(lb.Network, ln.Addr().String())
		_, errs["Listen"] = bad.Listen(context.Background(), lb.Network, lb.Addr)
		errs["Control"] = bad.Control(lb.Network, "", nil) // a nil RawConn would panic if touched
		_, errs["WrapListener"] = bad.WrapListener(ln).Accept()
		for name, err := range errs {
			assert.ErrorIs(t, err, syscall.EINVAL, name)
			assert.ErrorContains(t, err, "Count 200 outside 1..127 (TCP_KEEPCNT)", name)
		}
		after, afterOn := raw(t, client)
		assert.Equal(t, before, after, "Apply changed nothing")
		assert.Equal(t, beforeOn, afterOn)
	}
}

func TestNonTCP(t *testing.T) {
	t.Parallel()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer udp.Close()
	sock := filepath.Join(t.TempDir(), "s")
	ux, err := net.Listen("unix", sock)
	require.NoError(t, err)
	defer ux.Close()

	// One Dialer still dials UDP and unix sockets: the hook leaves them alone.
	d := full.Dialer(nil)
	uconn, err := d.Dial("udp4", udp.LocalAddr().String())
	require.NoError(t, err)
	defer uconn.Close()
	xconn, err := d.Dial("unix", sock)
	require.NoError(t, err)
	defer xconn.Close()

	for _, conn := range []net.Conn{uconn, xconn} {
		assert.ErrorIs(t, full.Apply(conn), keepalive.ErrNotTCP)
		_, err := keepalive.Inspect(conn)
		assert.ErrorIs(t, err, keepalive.ErrNotTCP)
	}
	_, err = full.Dial(context.Background(), "udp4", udp.LocalAddr().String())
	assert.ErrorIs(t, err, keepalive.ErrNotTCP)
	_, err = full.Listen(context.Background(), "unix", filepath.Join(t.TempDir(), "l"))
	assert.ErrorIs(t, err, keepalive.ErrNotTCP)
	_, err = full.WrapListener(ux).Accept()
	assert.ErrorIs(t, err, keepalive.ErrNotTCP)
	assert.ErrorIs(t, full.Apply(nil), keepalive.ErrNotTCP)
	nilLn := full.WrapListener(nil)
	_, err = nilLn.Accept()
	assert.ErrorIs(t, err, keepalive.ErrNotTCP, "a nil listener is refused, not a panic")
	assert.NoError(t, nilLn.Close())

	// InspectRawConn on a socket that is not TCP says so.
	rc, err := udp.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	_, err = keepalive.InspectRawConn(rc)
	assert.ErrorIs(t, err, keepalive.ErrNotTCP)
	assert.NotContains(t, err.Error(), "cannot read it back")
	xrc, err := xconn.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	_, err = keepalive.InspectRawConn(xrc)
	assert.ErrorIs(t, err, keepalive.ErrNotTCP, "a unix stream socket")
}

// Nil and typed-nil values give errors, never a panic.
func TestNilValues(t *testing.T) {
	t.Parallel()
	var tc *net.TCPConn
	var tlsConn *tls.Conn
	var tl *net.TCPListener
	for name, conn := range map[string]net.Conn{"nil": nil, "*net.TCPConn": tc, "*tls.Conn": tlsConn, "wrapper of nil": struct{ net.Conn }{}, "wrapper of a nil *tls.Conn": struct{ *tls.Conn }{}} {
		assert.ErrorIs(t, full.Apply(conn), keepalive.ErrNotTCP, name)
		_, err := keepalive.Inspect(conn)
		assert.ErrorIs(t, err, keepalive.ErrNotTCP, name)
	}
	for name, ln := range map[string]net.Listener{
		"typed nil *net.TCPListener":      tl,
		"WrapListener(WrapListener(nil))": full.WrapListener(nil),
	} {
		wrapped := full.WrapListener(ln)
		_, err := wrapped.Accept()
		assert.ErrorIs(t, err, keepalive.ErrNotTCP, name)
		assert.Nil(t, wrapped.Addr(), name)
	}
	_, err := keepalive.InspectRawConn(nil)
	assert.ErrorIs(t, err, keepalive.ErrNotTCP)
	assert.ErrorIs(t, full.Control("tcp", "", nil), keepalive.ErrNotTCP)
}

// hidingListener wraps its connections as golang.org/x/net/netutil's
// LimitListener does: a struct embedding net.Conn, with no NetConn or
// SyscallConn method.
type hidingListener struct{ net.Listener }

type hiddenConn struct{ net.Conn }

func (l hidingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return hiddenConn{c}, nil
}

// exposingListener's connections embed *net.TCPConn, so they have its
// SyscallConn method.
type exposingListener struct{ net.Listener }

type exposedConn struct{ *net.TCPConn }

func (l exposingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return exposedConn{c.(*net.TCPConn)}, nil
}

// WrapListener over a listener that wraps its connections: through
// SyscallConn it works; where the socket is hidden, Accept fails once and
// loudly, saying to put WrapListener innermost, instead of dropping every
// connection.
func TestWrapListenerOverWrappingListeners(t *testing.T) {
	t.Parallel()
	lb := testkit.Loopbacks(t)[0]
	t.Run("SyscallConn", func(t *testing.T) {
		ln := full.WrapListener(exposingListener{mptcpListener(t, lb, false)})
		_, server := testkit.Pair(t, lb, ln, plainDial)
		assertHolds(t, server, full)
		require.NoError(t, rounding.Apply(server))
		assertHolds(t, server, rounding)
	})
	t.Run("hidden", func(t *testing.T) {
		inner := mptcpListener(t, lb, false)
		ln := full.WrapListener(hidingListener{inner})
		defer ln.Close()
		srv := &http.Server{Handler: http.NotFoundHandler()}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		conn, err := plainDial(context.Background(), lb.Network, ln.Addr().String())
		require.NoError(t, err)
		defer conn.Close()
		select {
		case err := <-served:
			assert.ErrorIs(t, err, keepalive.ErrNotTCP)
			assert.ErrorContains(t, err, "put WrapListener innermost")
			assert.ErrorContains(t, err, "hiddenConn")
		case <-time.After(5 * time.Second):
			t.Fatal("the server is still serving a listener whose connections it cannot configure")
		}
		assert.Zero(t, ln.Dropped(), "not a drop per connection")
		_, err = ln.Accept()
		assert.ErrorIs(t, err, keepalive.ErrNotTCP, "and it stays failed")
	})
}

func TestClosedConn(t *testing.T) {
	t.Parallel()
	for _, lb := range testkit.Loopbacks(t) {
		client, _ := testkit.Pair(t, lb, nil, plainDial)
		require.NoError(t, client.Close())
		assert.ErrorIs(t, full.Apply(client), net.ErrClosed, lb.Network)
		_, err := keepalive.Inspect(client)
		assert.ErrorIs(t, err, net.ErrClosed, lb.Network)
	}
}

func TestInspectReportsDisabled(t *testing.T) {
	t.Parallel()
	for _, lb := range testkit.Loopbacks(t) {
		client, _ := testkit.Pair(t, lb, nil, plainDial)
		c, err := keepalive.Inspect(client)
		assert.ErrorIs(t, err, keepalive.ErrDisabled, lb.Network)
		assert.Equal(t, system(t), c, "the values are filled in all the same")
	}
}

func TestNoAllocations(t *testing.T) {
	// Not parallel: AllocsPerRun counts the whole process's allocations.
	if raceEnabled {
		t.Skip("skipping: allocation counts need a build without -race (the README's test command runs this test again without it)")
	}
	for _, lb := range testkit.Loopbacks(t) {
		client, _ := testkit.Pair(t, lb, nil, plainDial)
		rc, err := client.(*net.TCPConn).SyscallConn()
		require.NoError(t, err)
		var aerr, cerr, ierr error
		assert.Zero(t, testing.AllocsPerRun(1000, func() { aerr = full.Apply(client) }), "Apply")
		assert.Zero(t, testing.AllocsPerRun(1000, func() { cerr = full.Control(lb.Network, "", rc) }), "Control")
		assert.Zero(t, testing.AllocsPerRun(1000, func() { _, ierr = keepalive.Inspect(client) }), "Inspect")
		assert.NoError(t, aerr)
		assert.NoError(t, cerr)
		assert.NoError(t, ierr)
	}
}
