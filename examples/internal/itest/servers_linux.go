package itest

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keepalive-go/keepalive/internal/testkit"
)

// A server started once per test binary, on a free loopback port, in a
// temporary directory; Main stops it.
type server struct {
	once   sync.Once
	env    string // where a process started in a network namespace finds socket
	addr   string
	socket string // its unix socket's path
	err    error
	skip   string // why it cannot run here, and how to install it
	cmd    *exec.Cmd
	dir    string
	out    lockedBuffer

	exited  chan struct{} // closed when the process has exited
	exitErr error

	// readyLine, if set, is what the server prints once it serves
	// clients: accepting TCP connections is not enough for PostgreSQL,
	// which refuses logins ("the database system is starting up") until
	// its startup is done.
	readyLine string
}

var (
	postgres = server{env: "KEEPALIVE_ITEST_POSTGRES_SOCKET"}
	redis    = server{env: "KEEPALIVE_ITEST_REDIS_SOCKET"}
)

// The servers of the client recipes (issue 20), each from its Debian package.
var memcached, natsServer, mosquitto, mariadb, etcd server

// Main is TestMain for the packages whose tests use these servers. It stops
// the servers after the tests and, if tests found their server missing,
// names them on stderr and fails the test binary unless -short: go test
// ./... shows a passing package as one "ok" line and drops its output,
// skips included. (Under CI those tests fail by themselves: testkit.Skip.)
func Main(m *testing.M) {
	code := m.Run()
	stopServers()
	if report := skipped.report(); report != "" {
		if code == 0 && !testing.Short() {
			report += "FAIL: tests did not run for a missing server (go test -short accepts that)\n"
			code = 1
		}
		fmt.Fprint(os.Stderr, report)
	}
	os.Exit(code)
}

// skipped collects the tests that found their server missing, by reason.
var skipped skips

type skips struct {
	mu    sync.Mutex
	tests map[string][]string
}

func (s *skips) add(test, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tests == nil {
		s.tests = map[string][]string{}
	}
	s.tests[why] = append(s.tests[why], test)
}

func (s *skips) report() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, why := range slices.Sorted(maps.Keys(s.tests)) {
		tests := slices.Sorted(slices.Values(s.tests[why]))
		fmt.Fprintf(&b, "NOT RUN %s: %s\n", strings.Join(tests, ", "), why)
	}
	return b.String()
}

// stopServers stops the servers this test binary started and removes their
// directories.
func stopServers() {
	postgres.stop(syscall.SIGINT) // fast shutdown: ends the sessions, no checkpoint wait for clients
	redis.stop(syscall.SIGTERM)
	memcached.stop(syscall.SIGTERM)
	natsServer.stop(syscall.SIGTERM)
	mosquitto.stop(syscall.SIGTERM)
	mariadb.stop(syscall.SIGTERM)
	etcd.stop(syscall.SIGTERM)
}

func (s *server) stop(sig syscall.Signal) {
	if s.exited != nil {
		s.cmd.Process.Signal(sig)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// get starts the server once and returns its address, skipping the test
// (failing it under CI) where the server is not installed.
func (s *server) get(t testing.TB, start func(s *server) error) string {
	t.Helper()
	s.once.Do(func() {
		// In a process keepalivetest.InNetNS started, the server is the one
		// the calling process started, outside this network namespace.
		if sock := os.Getenv(s.env); sock != "" {
			s.socket = sock
			return
		}
		if s.err = start(s); s.err == nil && s.skip == "" {
			os.Setenv(s.env, s.socket) // for the processes InNetNS starts
		}
	})
	if s.skip != "" {
		skipped.add(t.Name(), s.skip)
		testkit.Skip(t, "skipping: "+s.skip)
	}
	if s.err != nil {
		t.Fatalf("%v\n%s", s.err, s.out.String())
	}
	return s.addr
}

// getSocket is get's unix socket.
func (s *server) getSocket(t testing.TB, start func(s *server) error) string {
	t.Helper()
	s.get(t, start)
	return s.socket
}

// Postgres returns the address of a PostgreSQL server (user postgres,
// database postgres, trust authentication, no TLS) on 127.0.0.1.
func Postgres(t testing.TB) string { return postgres.tcp(t, startPostgres) }

// Redis returns the address of a Redis server on 127.0.0.1.
func Redis(t testing.TB) string { return redis.tcp(t, startRedis) }

// PostgresSocket is the path of the unix socket of the server Postgres
// returns. A test that runs in keepalivetest.InNetNS calls it before
// InNetNS, so that the server starts outside the namespace (PostgreSQL
// refuses to run as root, which the test is in a namespace of its own),
// and reaches it through the socket: a network namespace has a loopback of
// its own, but the same files. The process InNetNS starts gets the same
// path, without starting a server.
func PostgresSocket(t testing.TB) string { return postgres.getSocket(t, startPostgres) }

// RedisSocket is the path of the unix socket of the server Redis returns,
// for tests in keepalivetest.InNetNS as PostgresSocket's.
func RedisSocket(t testing.TB) string { return redis.getSocket(t, startRedis) }

// tcp is get's TCP address, which a process in a network namespace of its
// own cannot reach.
func (s *server) tcp(t testing.TB, start func(s *server) error) string {
	t.Helper()
	addr := s.get(t, start)
	if addr == "" {
		t.Fatalf("itest: the server runs outside this network namespace (%s): reach it through its unix socket", s.socket)
	}
	return addr
}

func startPostgres(s *server) error {
	bin := postgresBinDir()
	if bin == "" {
		s.skip = "no PostgreSQL server (initdb, postgres); install it: apt-get install postgresql"
		return nil
	}
	// initdb and postgres refuse to run as root: run them as the postgres user.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running PostgreSQL as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "keepalive-postgres-")
	if err != nil {
		return err
	}
	s.dir = dir
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Stdout, initdb.Stderr = &s.out, &s.out
	if err := initdb.Run(); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.socket = filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(port))
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50")
	// SIGQUIT (immediate shutdown) if this test binary dies without stopServers.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	s.readyLine = "database system is ready to accept connections"
	return s.run()
}

// postgresBinDir finds initdb: on PATH, or in Debian's versioned directory.
func postgresBinDir() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func startRedis(s *server) error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		s.skip = "no Redis server (redis-server); install it: apt-get install redis-server"
		return nil
	}
	dir, err := os.MkdirTemp("", "keepalive-redis-")
	if err != nil {
		return err
	}
	s.dir = dir
	port, err := freePort()
	if err != nil {
		return err
	}
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.socket = filepath.Join(dir, "redis.sock")
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--unixsocket", s.socket, "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	return s.run()
}

// run starts s.cmd and waits until s.addr accepts connections and the
// server has printed readyLine.
func (s *server) run() error {
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", s.cmd.Path, err)
	}
	s.exited = make(chan struct{})
	go func() { s.exitErr = s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("%s exited: %v", filepath.Base(s.cmd.Path), s.exitErr)
		default:
		}
		if c, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
			c.Close()
			if strings.Contains(s.out.String(), s.readyLine) {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not accept connections on %s (or print %q) within 30s", filepath.Base(s.cmd.Path), s.addr, s.readyLine)
}

// lockedBuffer collects a server's output while the tests may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// freePort asks the kernel for a free loopback port, for a server that
// cannot listen on port 0 and tell us which port it got.
func freePort() (int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
