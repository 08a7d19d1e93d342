package layers

// The proof that each layer catches what the layer below cannot: a peer
// process stopped with SIGSTOP, server goroutines that stop serving, and a
// dead server behind a TCP relay, each against TCP keepalive, a heartbeat,
// HTTP/2 pings and gRPC keepalive, all on real sockets (docs/layers.md has
// the table these tests log).

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpckeepalive "google.golang.org/grpc/keepalive"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/heartbeat"
)

// Seconds-scale settings, built directly: Within and Plan refuse
// deadlines this short (and grpc-go raises a client Time below 10 s to 10 s).
var (
	tcpCfg    = keepalive.Config{Idle: time.Second, Interval: time.Second, Count: 2, UserTimeout: 3 * time.Second}
	beat      = heartbeat.Config{Interval: time.Second, Timeout: time.Second}
	h2Pings   = http.HTTP2Config{SendPingTimeout: time.Second, PingTimeout: time.Second}
	grpcPings = grpckeepalive.ClientParameters{Time: MinGRPCClientTime, Timeout: time.Second, PermitWithoutStream: true}
)

// slack covers the loaded 2-core machine and the race detector.
const slack = time.Second

const envPeer = "KEEPALIVE_LAYERS_PEER"

// TestMain lets the test binary serve as the peer process.
func TestMain(m *testing.M) {
	if os.Getenv(envPeer) != "" {
		s, err := startServers()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(s.echo, s.h2, s.grpc)
		select {}
	}
	os.Exit(m.Run())
}

// servers answer a byte ping (echo), HTTP/2 without TLS (h2), and gRPC's
// health service. Once hung, their goroutines stop serving: the echo
// stops answering, every HTTP handler and health check blocks; the
// transports (TCP, HTTP/2 and gRPC framing, pings) carry on.
type servers struct {
	echo, h2, grpc string
	hung           atomic.Bool
}

type hangingHealth struct {
	*health.Server
	s *servers
}

func (h hangingHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if h.s.hung.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return h.Server.Check(ctx, req)
}

func startServers() (*servers, error) {
	s := &servers{}
	listen := func() (net.Listener, error) {
		lc := net.ListenConfig{KeepAlive: -1} // the server's kernel answers probes anyway
		return lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	}
	echo, err := listen()
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				var b [1]byte
				for {
					if _, err := c.Read(b[:]); err != nil {
						return
					}
					if s.hung.Load() {
						continue
					}
					if _, err := c.Write(b[:]); err != nil {
						return
					}
				}
			}()
		}
	}()
	h2, err := listen()
	if err != nil {
		return nil, err
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &protocols, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.hung.Load() {
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "ok")
	})}
	go srv.Serve(h2)
	g, err := listen()
	if err != nil {
		return nil, err
	}
	gs := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(grpckeepalive.EnforcementPolicy{MinTime: grpcPings.Time / 2, PermitWithoutStream: true}))
	healthpb.RegisterHealthServer(gs, hangingHealth{health.NewServer(), s})
	go gs.Serve(g)
	s.echo, s.h2, s.grpc = echo.Addr().String(), h2.Addr().String(), g.Addr().String()
	return s, nil
}

// A mechanism is one layer's detection, armed on a working connection.
// After the failure, wait returns a channel that yields the error that
// ended the connection (never, if the layer cannot see the failure).
type mechanism struct {
	name  string
	bound time.Duration // the model's worst case
	arm   func(t *testing.T, s *servers) (wait func() <-chan error)
}

func heartbeatBound() time.Duration {
	d, _ := beat.Detection()
	return d.IdleMax
}

var mechanisms = []mechanism{
	{"TCP keepalive " + fmt.Sprintf("%+v", tcpCfg), func() time.Duration { d, _ := tcpCfg.Detection(keepalive.System{}); return d.IdleMax }(), armTCP},
	{"heartbeat, byte ping", heartbeatBound(), armHeartbeat},
	{"heartbeat, gRPC health Check", heartbeatBound(), armHeartbeatGRPC},
	{"HTTP/2 pings (Transport)", heartbeatBound(), armHTTP2},
	{"gRPC keepalive (client)", func() time.Duration {
		d, _ := heartbeat.Config{Interval: grpcPings.Time, Timeout: grpcPings.Timeout}.Detection()
		return d.IdleMax
	}(), armGRPC},
}

// byteRoundTrip writes one byte and reads it back by ctx's deadline.
func byteRoundTrip(ctx context.Context, c net.Conn) error {
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte{'p'}); err != nil {
		return err
	}
	var b [1]byte
	_, err := io.ReadFull(c, b[:])
	return err
}

func dialTCP(t *testing.T, addr string) net.Conn {
	c, err := tcpCfg.Dial(context.Background(), "tcp4", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// armTCP: an idle connection with only TCP keepalive; a Read blocks on it.
func armTCP(t *testing.T, s *servers) func() <-chan error {
	c := dialTCP(t, s.echo)
	require.NoError(t, byteRoundTrip(context.Background(), c))
	c.SetDeadline(time.Time{})
	return func() <-chan error {
		ch := make(chan error, 1)
		go func() {
			var b [1]byte
			_, err := c.Read(b[:])
			ch <- err
		}()
		return ch
	}
}

func armHeartbeat(t *testing.T, s *servers) func() <-chan error {
	c := dialTCP(t, s.echo)
	m, err := heartbeat.NewMonitor(beat)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	ch := make(chan error, 1)
	_, err = m.Start(c, func(ctx context.Context) error { return byteRoundTrip(ctx, c) }, func(err error) { ch <- err })
	require.NoError(t, err)
	return func() <-chan error { return ch }
}

// grpcClient dials s's gRPC server with the TCP Config and opts, and
// returns it with the connections it dialed.
func grpcClient(t *testing.T, addr string, opts ...grpc.DialOption) (*grpc.ClientConn, chan net.Conn) {
	d := tcpCfg.Dialer(nil)
	conns := make(chan net.Conn, 8)
	opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, "tcp4", addr)
			if err == nil {
				select {
				case conns <- c:
				default:
				}
			}
			return c, err
		}))
	cc, err := grpc.NewClient("passthrough:///"+addr, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	return cc, conns
}

// armHeartbeatGRPC: the heartbeat's ping is a real RPC, which a hung
// handler does not answer.
func armHeartbeatGRPC(t *testing.T, s *servers) func() <-chan error {
	cc, conns := grpcClient(t, s.grpc)
	m, err := heartbeat.NewMonitor(beat)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	ch := make(chan error, 1)
	hc := healthpb.NewHealthClient(cc)
	_, err = m.Start(<-conns, func(ctx context.Context) error {
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}, func(err error) { ch <- err })
	require.NoError(t, err)
	return func() <-chan error { return ch }
}

func armHTTP2(t *testing.T, s *servers) func() <-chan error {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	h2 := h2Pings
	tr := &http.Transport{DialContext: tcpCfg.Dialer(nil).DialContext, Protocols: &protocols, HTTP2: &h2}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	get := func() error {
		resp, err := client.Get("http://" + s.h2 + "/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			return fmt.Errorf("got %s, want HTTP/2", resp.Proto)
		}
		_, err = io.ReadAll(resp.Body)
		return err
	}
	require.NoError(t, get())
	return func() <-chan error {
		ch := make(chan error, 1)
		go func() { ch <- get() }()
		return ch
	}
}

func armGRPC(t *testing.T, s *servers) func() <-chan error {
	cc, _ := grpcClient(t, s.grpc, grpc.WithKeepaliveParams(grpcPings))
	return func() <-chan error {
		ch := make(chan error, 1)
		go func() {
			_, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{})
			ch <- err
		}()
		return ch
	}
}

// detected is what one mechanism saw.
type detected struct {
	after time.Duration
	err   error // nil and after 0: never, within the wait
}

// prove arms every mechanism against s, calls fail, and waits for each
// until the slowest bound plus slack has passed. It logs a row per
// mechanism and returns what each saw.
func prove(t *testing.T, scenario string, s *servers, fail func()) map[string]detected {
	waits := make([]func() <-chan error, len(mechanisms))
	var wait time.Duration
	for i, m := range mechanisms {
		waits[i] = m.arm(t, s)
		wait = max(wait, m.bound)
	}
	wait += slack
	fail()
	start := time.Now()
	var mu sync.Mutex
	got := map[string]detected{}
	var wg sync.WaitGroup
	for i, m := range mechanisms {
		ch := waits[i]()
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case err := <-ch:
				mu.Lock()
				got[m.name] = detected{time.Since(start), err}
				mu.Unlock()
			case <-time.After(wait - time.Since(start)):
			}
		}()
	}
	wg.Wait()
	for _, m := range mechanisms {
		d := got[m.name]
		if d.err == nil {
			t.Logf("| %s | %s | never (still open after %.1f s) | %.2f s |", scenario, m.name, wait.Seconds(), m.bound.Seconds())
		} else {
			t.Logf("| %s | %s | %.2f s: %v | %.2f s |", scenario, m.name, d.after.Seconds(), d.err, m.bound.Seconds())
		}
	}
	return got
}

// assertDetected checks that name saw the failure within its bound.
func assertDetected(t *testing.T, got map[string]detected, name string) {
	t.Helper()
	for _, m := range mechanisms {
		if strings.HasPrefix(m.name, name) {
			d := got[m.name]
			if assert.Error(t, d.err, "%s did not detect the failure", m.name) {
				assert.LessOrEqual(t, d.after, m.bound+slack, m.name)
			}
			return
		}
	}
	t.Fatalf("no mechanism %q", name)
}

func assertNever(t *testing.T, got map[string]detected, name string) {
	t.Helper()
	for _, m := range mechanisms {
		if strings.HasPrefix(m.name, name) {
			assert.NoError(t, got[m.name].err, "%s", m.name)
			return
		}
	}
	t.Fatalf("no mechanism %q", name)
}

// assertEstablished checks that the kernel still holds conns as
// ESTABLISHED: TCP keepalive has not ended them.
func assertEstablished(t *testing.T, c net.Conn) {
	t.Helper()
	st, err := keepalive.StatusOf(c)
	require.NoError(t, err)
	assert.Equal(t, keepalive.StateEstablished, st.State, "TCP state")
}

// A peer process stopped with SIGSTOP: its kernel answers TCP (keepalive
// probes, data), nothing above TCP answers.
func TestHungProcess(t *testing.T) {
	t.Parallel()
	peer := exec.Command(os.Args[0], "-test.run=^$")
	peer.Env = append(os.Environ(), envPeer+"=1")
	peer.Stderr = os.Stderr
	out, err := peer.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, peer.Start())
	t.Cleanup(func() { peer.Process.Kill(); peer.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	f := strings.Fields(line)
	require.Len(t, f, 3)
	s := &servers{echo: f[0], h2: f[1], grpc: f[2]}
	probe := dialTCP(t, s.echo) // idle, TCP keepalive only
	got := prove(t, "peer process stopped (SIGSTOP)", s, func() { require.NoError(t, peer.Process.Signal(syscall.SIGSTOP)) })
	assertNever(t, got, "TCP keepalive")
	assertEstablished(t, probe)
	for _, m := range []string{"heartbeat, byte", "heartbeat, gRPC", "HTTP/2", "gRPC keepalive"} {
		assertDetected(t, got, m)
	}
}

// Server goroutines that stop serving while the process runs: the HTTP/2
// and gRPC transports still answer pings, so only a ping that is a real
// request (the heartbeat) sees it.
func TestHungServer(t *testing.T) {
	t.Parallel()
	s, err := startServers()
	require.NoError(t, err)
	probe := dialTCP(t, s.echo)
	got := prove(t, "server goroutines stop serving", s, func() { s.hung.Store(true) })
	assertNever(t, got, "TCP keepalive")
	assertNever(t, got, "HTTP/2")
	assertNever(t, got, "gRPC keepalive")
	assertEstablished(t, probe)
	assertDetected(t, got, "heartbeat, byte")
	assertDetected(t, got, "heartbeat, gRPC")
}

// A dead server behind a TCP relay that stays healthy: TCP keepalive
// checks only the path to the relay.
func TestDeadBackendBehindProxy(t *testing.T) {
	t.Parallel()
	backend, err := startServers()
	require.NoError(t, err)
	relays := []*itest.BackendRelay{itest.NewBackendRelay(t, backend.echo), itest.NewBackendRelay(t, backend.h2), itest.NewBackendRelay(t, backend.grpc)}
	s := &servers{echo: relays[0].Addr(), h2: relays[1].Addr(), grpc: relays[2].Addr()}
	probe := dialTCP(t, s.echo)
	got := prove(t, "dead server behind a TCP relay", s, func() {
		for _, r := range relays {
			r.KillBackend(t)
		}
	})
	assertNever(t, got, "TCP keepalive")
	assertEstablished(t, probe)
	for _, m := range []string{"heartbeat, byte", "heartbeat, gRPC", "HTTP/2", "gRPC keepalive"} {
		assertDetected(t, got, m)
	}
}
