// Command pgxheartbeat keeps an idle pgx session checked by a keepalive
// heartbeat, with every layer from one deadline by layers.Within: its TCP
// Config for a dead host, and the heartbeat's Ping for a server that hangs
// or a dead server behind a proxy. A session busy in a call is not pinged
// (the ping would queue behind it): give such calls a context deadline. When a ping
// fails the Monitor closes the connection hard, so the next call fails at
// once instead of hanging, and says why.
//
//	go run ./pgxheartbeat -dsn 'postgres://postgres@127.0.0.1:5432/postgres'
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keepalive-go/keepalive"
	"github.com/keepalive-go/keepalive/heartbeat"
	"github.com/keepalive-go/keepalive/layers"
)

// Dead within 30 s, behind a load balancer that forgets flows idle for 350 s.
const deadline, middleboxIdle = 30 * time.Second, 350 * time.Second

func main() {
	dsn := flag.String("dsn", os.Getenv("DATABASE_URL"), "PostgreSQL connection string (default $DATABASE_URL)")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *dsn); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, dsn string) error {
	p, err := layers.Within(deadline, middleboxIdle)
	if err != nil {
		return err
	}
	m, err := heartbeat.NewMonitor(p.Heartbeat) // one per process: it pings every session
	if err != nil {
		return err
	}
	defer m.Close()
	s, err := open(ctx, dsn, p.TCP, m, func(err error) { log.Print("postgres session closed: ", err) })
	if err != nil {
		return err
	}
	defer s.Close(ctx)
	var one int
	if err := s.QueryRow(ctx, "SELECT 1", &one); err != nil {
		return err
	}
	fmt.Fprintf(out, "PostgreSQL within %v behind a %v middlebox: TCP %+v (dead host within %v); heartbeat %+v (hung or dead server within %v)\n",
		deadline, middleboxIdle, p.TCP, p.TCPDetection.IdleMax.Round(time.Millisecond), p.Heartbeat, p.HeartbeatDetection.IdleMax.Round(time.Millisecond))
	return nil
}

// session is a pgx connection used by one goroutine at a time and pinged
// by the heartbeat while idle.
type session struct {
	mu    sync.Mutex
	conn  *pgx.Conn
	watch *heartbeat.Pinger
}

func open(ctx context.Context, dsn string, tcp keepalive.Config, m *heartbeat.Monitor, onFail func(error)) (*session, error) {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cc.DialFunc = tcp.Dialer(&net.Dialer{Timeout: 5 * time.Second}).DialContext
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, err
	}
	s := &session{conn: conn}
	if s.watch, err = m.Start(conn.PgConn().Conn(), s.ping, onFail); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return s, nil
}

// ping is the heartbeat's round trip. A session in use is not pinged: the
// call's own context bounds it.
func (s *session) ping(ctx context.Context) error {
	if !s.mu.TryLock() {
		return nil
	}
	defer s.mu.Unlock()
	return s.conn.Ping(ctx)
}

// QueryRow runs sql and scans its one row into dest.
func (s *session) QueryRow(ctx context.Context, sql string, dest ...any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.QueryRow(ctx, sql).Scan(dest...)
}

func (s *session) Close(ctx context.Context) error {
	s.watch.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.Close(ctx)
}
