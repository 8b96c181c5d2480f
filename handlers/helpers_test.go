package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/fdring/fdring/loop"
)

// timeout bounds every blocking step of a test (a loaded 2-core machine
// running the race detector is slow, but never this slow).
const timeout = 30 * time.Second

// startLoop runs l on its own goroutine until the test ends, then stops and
// closes it.
func startLoop(t *testing.T, l *loop.Loop) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("loop Run: %v", err)
			}
		case <-time.After(timeout):
			t.Errorf("loop did not stop within %v", timeout)
		}
		l.Close()
	})
}

func newLoop(t *testing.T, opts ...loop.Option) *loop.Loop {
	t.Helper()
	l, err := loop.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// recv waits for a value from ch, failing the test after the timeout.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// pattern is the byte at offset off of the test streams.
func pattern(off int64) byte { return byte(off*7 + off>>13) }

func fillPattern(p []byte, off int64) {
	for i := range p {
		p[i] = pattern(off + int64(i))
	}
}

func checkPattern(p []byte, off int64) error {
	for i, b := range p {
		if want := pattern(off + int64(i)); b != want {
			return fmt.Errorf("byte %d: got %#x, want %#x", off+int64(i), b, want)
		}
	}
	return nil
}

// dial connects to addr with a deadline on every later operation.
func dial(t *testing.T, network, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(timeout))
	t.Cleanup(func() { c.Close() })
	return c
}

// dialSlowReader is dial with a small receive buffer, so that a server's
// output backs up after kilobytes rather than megabytes of kernel buffering.
func dialSlowReader(t *testing.T, network, addr string) net.Conn {
	t.Helper()
	c := dial(t, network, addr)
	if tc, ok := c.(*net.TCPConn); ok {
		// Best effort: a larger buffer only makes the test weaker.
		_ = tc.SetReadBuffer(32 << 10)
	}
	return c
}

// readPattern reads n bytes of the test pattern from r and verifies them.
func readPattern(r io.Reader, n int64) error { return readPatternFrom(r, 0, n) }

// readPatternFrom reads the test pattern from offset off up to n from r and
// verifies it.
func readPatternFrom(r io.Reader, off, n int64) error {
	buf := make([]byte, 64<<10)
	for off < n {
		m, err := r.Read(buf[:min(int64(len(buf)), n-off)])
		if err := checkPattern(buf[:m], off); err != nil {
			return err
		}
		off += int64(m)
		if err != nil {
			return fmt.Errorf("after %d of %d bytes: %w", off, n, err)
		}
	}
	return nil
}

// expectEOF checks that r has nothing more than its end.
func expectEOF(r io.Reader) error {
	var b [1]byte
	n, err := r.Read(b[:])
	if n != 0 || err != io.EOF {
		return fmt.Errorf("got (%d, %v), want io.EOF", n, err)
	}
	return nil
}

// onLoop runs f on l's goroutine and waits for it.
func onLoop(t *testing.T, l *loop.Loop, f func()) {
	t.Helper()
	done := make(chan struct{})
	if err := l.Post(func() { f(); close(done) }); err != nil {
		t.Fatal(err)
	}
	recv(t, done, "a Post to run")
}

// tcpPair returns the two ends of a TCP connection over loopback.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client = dial(t, "tcp", ln.Addr().String())
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// expectClosed checks that c's peer closed: a read ends with EOF or a reset.
func expectClosed(c net.Conn) error {
	var b [1]byte
	if n, err := c.Read(b[:]); err == nil {
		return fmt.Errorf("read %d bytes from a connection that should be closed", n)
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return nil
}
