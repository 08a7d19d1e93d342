// Command franzgo produces to Kafka through github.com/twmb/franz-go with
// a keepalive.Config from layers.Within on every broker connection
// (kgo.Dialer). Without -brokers it starts franz-go's in-process fake
// cluster (pkg/kfake), which speaks the real Kafka protocol but runs in
// this process: no broker is installed here.
//
//	go run ./franzgo                       # against kfake
//	go run ./franzgo -brokers 127.0.0.1:9092
//
// franz-go dials with a net.Dialer whose only setting is a 10 s Timeout
// (Go's keepalive 15 s, 15 s, 9, no UserTimeout). Kafka's protocol has no
// ping: the client bounds each request by its own read deadline (the
// request's timeout plus RequestTimeoutOverhead, 10 s; a produce:
// ProduceRequestTimeout 10 s + 10 s) and closes connections idle for
// ConnIdleTimeout (30 s), which it never reads meanwhile. Both are kept:
// the Config ends a request in flight at UserTimeout, before them, and
// drops an idle connection to a dead broker before its next use. A failed
// request is retried on a new connection, by the client itself.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/layers"
)

// Dead within 30 s, behind a load balancer that forgets flows idle for 350 s.
const deadline, middleboxIdle = 30 * time.Second, 350 * time.Second

const topic = "keepalive"

func main() {
	brokers := flag.String("brokers", "", "comma-separated seed brokers (default: an in-process kfake cluster)")
	flag.Parse()
	seeds := strings.Split(*brokers, ",")
	if *brokers == "" {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
		seeds = c.ListenAddrs()
	}
	if err := run(context.Background(), os.Stdout, seeds); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, seeds []string) error {
	p, err := layers.Within(deadline, middleboxIdle)
	if err != nil {
		return err
	}
	var (
		mu    sync.Mutex
		conns []net.Conn // to show what they hold below
	)
	dial := keepalive.WatchDial(p.TCP.Dialer(&net.Dialer{Timeout: 10 * time.Second}).DialContext, logEnd)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			c, err := dial(ctx, network, host)
			if err == nil {
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
			return c, err
		}))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("ok")}).FirstErr(); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range conns {
		got, err := keepalive.Inspect(c)
		if err != nil {
			return err
		}
		if got != p.TCP.Rounded() {
			return fmt.Errorf("a broker connection holds %+v, not %+v", got, p.TCP)
		}
	}
	fmt.Fprintf(out, "Kafka within %v: %d broker connections, each holds %+v\n", deadline, len(conns), p.TCP)
	return nil
}

// logEnd is the hook keepalive.WatchDial calls as each connection is
// closed: a dead broker is logged as one.
func logEnd(conn net.Conn, cause keepalive.Cause, st keepalive.Status) {
	if cause.PeerDead() {
		slog.Warn("Kafka broker dead", "remote", conn.RemoteAddr(), "cause", cause, "probes", st.Probes, "retransmits", st.Retransmits)
	}
}
