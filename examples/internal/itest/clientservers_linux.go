package itest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// Memcached returns the address of a memcached server on 127.0.0.1.
func Memcached(t testing.TB) string { return memcached.get(t, startMemcached) }

// NATS returns the address of a nats-server on 127.0.0.1.
func NATS(t testing.TB) string { return natsServer.get(t, startNATS) }

// Mosquitto returns the address of a mosquitto MQTT broker on 127.0.0.1
// (anonymous clients allowed).
func Mosquitto(t testing.TB) string { return mosquitto.get(t, startMosquitto) }

// MariaDB returns the address of a MariaDB server on 127.0.0.1 (user root,
// no password: grant tables skipped).
func MariaDB(t testing.TB) string { return mariadb.get(t, startMariaDB) }

// Etcd returns the address of a single-member etcd on 127.0.0.1.
func Etcd(t testing.TB) string { return etcd.get(t, startEtcd) }

// lookBin finds a server binary on PATH or in /usr/sbin (Debian puts
// daemons there, and a non-root PATH often lacks it).
func lookBin(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err == nil {
		return p, true
	}
	return "", false
}

// prepare makes the server's directory and picks its port.
func (s *server) prepare(name string) (port int, err error) {
	dir, err := os.MkdirTemp("", "keepalive-"+name+"-")
	if err != nil {
		return 0, err
	}
	s.dir = dir
	if port, err = freePort(); err != nil {
		return 0, err
	}
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return port, nil
}

func startMemcached(s *server) error {
	bin, ok := lookBin("memcached")
	if !ok {
		s.skip = "no memcached server (memcached); install it: apt-get install memcached"
		return nil
	}
	port, err := s.prepare("memcached")
	if err != nil {
		return err
	}
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "16"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody") // memcached refuses to run as root
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	return s.run()
}

func startNATS(s *server) error {
	bin, ok := lookBin("nats-server")
	if !ok {
		s.skip = "no NATS server (nats-server); install it: apt-get install nats-server"
		return nil
	}
	port, err := s.prepare("nats")
	if err != nil {
		return err
	}
	s.cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-P", filepath.Join(s.dir, "pid"))
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	s.readyLine = "Server is ready"
	return s.run()
}

func startMosquitto(s *server) error {
	bin, ok := lookBin("mosquitto")
	if !ok {
		s.skip = "no MQTT broker (mosquitto); install it: apt-get install mosquitto"
		return nil
	}
	port, err := s.prepare("mosquitto")
	if err != nil {
		return err
	}
	conf := filepath.Join(s.dir, "mosquitto.conf")
	text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n", port)
	if os.Geteuid() == 0 {
		text += "user root\n" // as root it would switch to the user mosquitto, which cannot read this directory
	}
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	s.cmd = exec.Command(bin, "-c", conf)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	return s.run()
}

func startMariaDB(s *server) error {
	bin, ok := lookBin("mariadbd")
	installDB, ok2 := lookBin("mariadb-install-db")
	if !ok || !ok2 {
		s.skip = "no MariaDB server (mariadbd, mariadb-install-db); install it: apt-get install mariadb-server"
		return nil
	}
	port, err := s.prepare("mariadb")
	if err != nil {
		return err
	}
	data := filepath.Join(s.dir, "data")
	user := []string{}
	if os.Geteuid() == 0 {
		user = []string{"--user=root"} // mariadbd refuses root unless told
	}
	install := exec.Command(installDB, append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve"}, user...)...)
	install.Stdout, install.Stderr = &s.out, &s.out
	if err := install.Run(); err != nil {
		return fmt.Errorf("mariadb-install-db: %w", err)
	}
	s.cmd = exec.Command(bin, append([]string{"--no-defaults", "--datadir=" + data, "--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1", "--socket=" + filepath.Join(s.dir, "sock"), "--pid-file=" + filepath.Join(s.dir, "pid"),
		"--skip-grant-tables", "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
		"--innodb-flush-log-at-trx-commit=0", "--max-connections=50"}, user...)...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	s.readyLine = "ready for connections"
	return s.run()
}

func startEtcd(s *server) error {
	bin, ok := lookBin("etcd")
	if !ok {
		s.skip = "no etcd server (etcd); install it: apt-get install etcd-server"
		return nil
	}
	port, err := s.prepare("etcd")
	if err != nil {
		return err
	}
	peerPort, err := freePort()
	if err != nil {
		return err
	}
	client := "http://" + s.addr
	peer := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort))
	_ = port
	s.cmd = exec.Command(bin, "--name", "t", "--data-dir", filepath.Join(s.dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "t="+peer, "--unsafe-no-fsync")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	s.readyLine = "ready to serve client requests"
	return s.run()
}
