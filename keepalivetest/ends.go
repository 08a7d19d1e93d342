package keepalivetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/keepalive-go/keepalive"
)

// grace bounds the wait, after the deadline, for an operation to return
// once its context is canceled: nothing is left running after the test.
const grace = 5 * time.Second

// EndsWithin fails t unless op returns within deadline, error or not (a
// driver may retry on a new connection). op's context is canceled at the
// deadline. conn, if not nil, is the connection op depends on: the report
// says what its kernel saw (keepalive.CauseOf), which tells code that
// never noticed the dead peer from code that ignored the kernel's error.
// With op nil, EndsWithin waits for conn itself to end: closed by the
// kernel or by the code under test. It returns how long the wait took and
// op's error. An op that ignores its context is left running after a 5 s
// grace, and reported; asking the kernel takes a pending socket error, so
// the code under test may read EOF where it would have read ETIMEDOUT.
func EndsWithin(t TB, deadline time.Duration, conn net.Conn, op func(ctx context.Context) error) (time.Duration, error) {
	t.Helper()
	switch {
	case deadline <= 0:
		t.Fatalf("keepalivetest: EndsWithin: deadline %v: must be positive", deadline)
	case op == nil && conn == nil:
		t.Fatal("keepalivetest: EndsWithin: neither an operation nor a connection to wait for")
	}
	if op == nil {
		op = func(ctx context.Context) error { return waitEnded(ctx, conn) }
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- op(ctx) }()
	var err error
	select {
	case err = <-done:
		took := time.Since(start)
		if took <= deadline {
			t.Logf("ended after %v (deadline %v): %v%s", took.Round(time.Millisecond), deadline, errText(err), kernelSaw(conn, err))
			return took, err
		}
		// Past the deadline though it returned: it was op's own context.
		t.Errorf("still blocked after %v (deadline %v), returned only when its context was canceled: %v%s",
			took.Round(time.Millisecond), deadline, errText(err), verdict(conn, err))
		return took, err
	case <-ctx.Done():
	}
	took := time.Since(start)
	msg := fmt.Sprintf("still blocked after %v (deadline %v)%s", took.Round(time.Millisecond), deadline, verdict(conn, nil))
	select {
	case err = <-done:
	case <-time.After(grace):
		msg += fmt.Sprintf("; and still running %v after its context was canceled: it ignores it", grace)
	}
	t.Error(msg)
	return took, err
}

// waitEnded polls conn's state until the kernel or its owner closed it.
func waitEnded(ctx context.Context, conn net.Conn) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := keepalive.StatusOf(conn)
		if err != nil {
			return err // closed by the code under test, typically: net.ErrClosed
		}
		if st.State == keepalive.StateClosed {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func errText(err error) string {
	if err == nil {
		return "no error"
	}
	return "error " + err.Error()
}

// kernelSaw is the kernel's cause for a log line, if conn is known.
func kernelSaw(conn net.Conn, err error) string {
	if conn == nil {
		return ""
	}
	cause, _, cerr := keepalive.CauseOf(conn, err)
	switch {
	case errors.Is(cerr, net.ErrClosed) || cerr == nil && cause == keepalive.CauseClosedLocally:
		return "; the connection was closed by its owner"
	case cerr != nil:
		return "; keepalive.CauseOf: " + cerr.Error()
	}
	return "; keepalive.CauseOf: " + cause.String()
}

// verdict says, for a call still blocked, whether the kernel had noticed.
func verdict(conn net.Conn, err error) string {
	if conn == nil {
		return "; pass EndsWithin the connection to see what its kernel saw"
	}
	cause, st, cerr := keepalive.CauseOf(conn, err)
	switch {
	case errors.Is(cerr, net.ErrClosed) || cerr == nil && cause == keepalive.CauseClosedLocally:
		return "; the connection was closed by its owner, yet the call waits: it waits on something else"
	case cerr != nil:
		return "; keepalive.CauseOf: " + cerr.Error()
	case cause != keepalive.CauseOpen && cause != keepalive.CauseUnknown || st.State == keepalive.StateClosed:
		return fmt.Sprintf("; the kernel noticed (%v; TCP: %v), so the code ignored the error it was given", cause, st)
	}
	if full, err := keepalive.StatusOf(conn); err == nil {
		st = full // with the keepalive values
	}
	hint := ""
	switch {
	case st.Has(keepalive.FieldKeepAlive) && !st.KeepAlive && st.Has(keepalive.FieldUnacked) && st.Unacked == 0:
		hint = " (SO_KEEPALIVE off: an idle connection is never probed)"
	case st.Has(keepalive.FieldUnacked) && st.Unacked > 0 && st.Config.UserTimeout == 0:
		hint = " (data in flight and no TCP_USER_TIMEOUT: tcp_retries2 decides, ~15 min by default)"
	}
	return fmt.Sprintf("; the code never noticed: TCP: %v%s", st, hint)
}
