package heartbeat_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/keepalive-go/keepalive/heartbeat"
)

// One Monitor per process pings every connection; a ping is one round trip
// of the connection's own protocol.
func ExampleMonitor_Start() {
	m, err := heartbeat.NewMonitor(heartbeat.Config{Interval: 10 * time.Second, Timeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	conn, err := net.Dial("tcp", "cache.internal:11211")
	if err != nil {
		log.Fatal(err)
	}
	r := bufio.NewReader(conn)
	ping := func(ctx context.Context) error { // memcached's "version"
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte("version\r\n")); err != nil {
			return err
		}
		_, err := r.ReadString('\n')
		return err
	}
	p, err := m.Start(conn, ping, func(err error) { log.Print(err) }) // closed hard already
	if err != nil {
		log.Fatal(err)
	}
	defer p.Stop()
}

// Within makes a deadline into an interval and a timeout; Detection says
// how late the worst case is.
func ExampleWithin() {
	cfg, err := heartbeat.Within(30*time.Second, 0)
	if err != nil {
		log.Fatal(err)
	}
	d, _ := cfg.Detection()
	fmt.Printf("%+v, dead within %v\n", cfg, d.IdleMax)
	// Output: {Interval:18s Timeout:10s}, dead within 28.975s
}

func ExampleSlack() {
	fmt.Println(heartbeat.Slack(30 * time.Second))
	// Output: 1.0375s
}

// Detection says when a Monitor running cfg closes a connection to a hung
// peer: Interval + Timeout after the last ping that succeeded, Slack later
// at worst.
func ExampleConfig_Detection() {
	cfg := heartbeat.Config{Interval: 20 * time.Second, Timeout: 10 * time.Second}
	d, err := cfg.Detection()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.IdleMin, d.IdleMax)
	// Output: 30s 31.0375s
}
