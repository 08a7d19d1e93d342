// Command goredis talks to Redis through github.com/redis/go-redis/v9 with
// a keepalive.Config on every pooled connection (Options.Dialer). A command
// sent to a dead server then fails in seconds, and an idle pooled
// connection to it is dropped by the kernel, so the pool's health check
// discards it and the next command gets a new connection.
//
//	go run ./goredis -addr 127.0.0.1:6379
//
// go-redis's ReadTimeout (default 5 s) already bounds a blocked command;
// keepalive still matters for what it does not cover: commands run with
// ReadTimeout -1 or long blocking timeouts (BLPOP, XREAD BLOCK, Pub/Sub
// receives), idle pooled connections, and writes.
package main

import (
	"context"
	"expvar"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keepalive-go/keepalive"
)

// cfg: a dead server is dropped 25 s after its last word when idle, and 25
// s after the write (at worst cfg.Detection's InFlightMax) when a command is
// in flight.
var cfg = keepalive.Config{Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3, UserTimeout: 25 * time.Second}

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "Redis server address")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *addr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, addr string) error {
	var last net.Conn
	dial := keepalive.WatchDial(cfg.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext, logEnd)
	rdb := redis.NewClient(&redis.Options{
		Addr: addr,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			last = c // to show what it holds below
			return c, err
		},
	})
	defer rdb.Close()
	pong, err := rdb.Ping(ctx).Result()
	if err != nil {
		return err
	}
	got, err := keepalive.Inspect(last)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "server: %s\nclient: connection holds %+v\n", pong, got)
	return nil
}

// ended counts connections by why they ended (expvar: /debug/vars).
var ended = expvar.NewMap("keepalive_conns_ended")

// logEnd is the hook keepalive.WatchDial and WatchListener call as each
// connection is closed: a dead peer is logged as one, where the driver
// says EOF or "connection timed out", and every end is counted.
func logEnd(conn net.Conn, cause keepalive.Cause, st keepalive.Status) {
	ended.Add(cause.String(), 1)
	if cause.PeerDead() {
		slog.Warn("peer dead", "remote", conn.RemoteAddr(), "cause", cause, "probes", st.Probes, "retransmits", st.Retransmits)
	}
}
