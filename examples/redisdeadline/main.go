// Command redisdeadline talks to Redis through go-redis with every layer
// set from one deadline by layers.Within: its TCP Config on each pooled
// connection for a dead host, and go-redis's own per-command timeouts set
// to the plan's ping Timeout for a server that hangs (go-redis needs no
// heartbeat of its own: every command carries its timeout, and an idle
// pooled connection is checked before reuse).
//
//	go run ./redisdeadline -addr 127.0.0.1:6379
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/layers"
)

// Dead within 30 s, behind a load balancer that forgets flows idle for 350 s.
const deadline, middleboxIdle = 30 * time.Second, 350 * time.Second

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "Redis server address")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *addr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, addr string) error {
	p, err := layers.Within(deadline, middleboxIdle)
	if err != nil {
		return err
	}
	rdb := newClient(addr, p.TCP, p.Heartbeat.Timeout)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return err
	}
	fmt.Fprintf(out, "Redis within %v behind a %v middlebox: TCP %+v (dead host within %v); commands time out after %v\n",
		deadline, middleboxIdle, p.TCP, p.TCPDetection.IdleMax.Round(time.Millisecond), p.Heartbeat.Timeout)
	return nil
}

// newClient is a go-redis client with tcp on every connection and timeout
// on every command's read and write. Blocking commands (BLPOP, XREAD
// BLOCK) add their own block time to the read timeout.
func newClient(addr string, tcp keepalive.Config, timeout time.Duration) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:         addr,
		Dialer:       tcp.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
		MaxRetries:   -1, // a failed command is reported, not retried on a new connection
	})
}
