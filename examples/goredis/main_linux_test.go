package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepalive-go/keepalive/examples/internal/itest"
	"github.com/keepalive-go/keepalive/internal/testkit"
)

// TestMain stops the Redis server the tests started, and fails the run
// if it is not installed (itest.Main).
func TestMain(m *testing.M) { itest.Main(m) }

func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, itest.Redis(t)))
	assert.Equal(t, fmt.Sprintf("server: PONG\nclient: connection holds %+v\n", cfg), out.String())
}

// redisTimeout: with RESP3 (go-redis's default protocol) a connection that
// timed out is reported as EOF. Before reading a reply go-redis peeks for
// push notifications (push.Processor.processPendingNotifications) and
// drops the error of that peek; the bufio.Reader under it hands a read
// error out once, so the reply read that follows gets EOF from the closed
// socket. (With Protocol: 2 the error is "read: connection timed out".)
// A FIN would read the same, so this only pins down what users see:
// itest.DeadPeer proves the timeout with keepalive.CauseOf, which the
// hook of keepalive.WatchDial receives as go-redis closes the connection
// ("retransmission timeout", not "closed by peer").
func redisTimeout(err error) bool {
	return itest.IsTimeout(err) || errors.Is(err, io.EOF)
}

func TestDeadPeerRedis(t *testing.T) {
	t.Parallel()
	itest.DeadPeer(t, itest.Driver{
		Server:     itest.Redis(t),
		Keepalive:  itest.Config.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		Default:    redis.NewDialer(&redis.Options{DialTimeout: 5 * time.Second}), // keepalive 30 s, 5 s, 3
		TimeoutErr: redisTimeout,
		Open: func(t *testing.T, addr string, dial testkit.DialFunc) itest.Client {
			rdb := redis.NewClient(&redis.Options{
				Addr:   addr,
				Dialer: dial,
				// go-redis's own read and write timeouts (5 s by default)
				// would end the wait whatever the socket does: off, so the
				// test sees the connection, as with BLPOP or Pub/Sub.
				ReadTimeout:  -1,
				WriteTimeout: -1,
				// Retries would re-send the failed command on a new
				// connection and hide the failure this test measures.
				MaxRetries: -1,
			})
			return itest.Client{
				Do:    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
				Close: func() { rdb.Close() },
			}
		},
	})
}
