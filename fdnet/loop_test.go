package fdnet_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/fdring/fdring/fdnet"
)

const detachTimeout = 10 * time.Second

func detachPipe(t *testing.T) (*fdnet.Conn, *fdnet.Conn) {
	t.Helper()
	a, b, err := fdnet.Pipe(fdnet.WithBufferSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	a.SetDeadline(time.Now().Add(detachTimeout))
	b.SetDeadline(time.Now().Add(detachTimeout))
	return a, b
}

// TestDetach: the rings work after Detach, the Conn does not, and its
// Close leaves the rings open.
func TestDetach(t *testing.T) {
	a, b := detachPipe(t)
	ctx, cancel := context.WithTimeout(context.Background(), detachTimeout)
	defer cancel()
	rx, tx, err := a.Detach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	defer tx.Close()
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Detach = %v, want net.ErrClosed", err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Detach = %v, want net.ErrClosed", err)
	}
	if err := a.SetDeadline(time.Time{}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetDeadline after Detach = %v, want net.ErrClosed", err)
	}
	if _, _, err := a.Detach(ctx); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Detach = %v, want net.ErrClosed", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close after Detach = %v, want nil", err)
	}
	// The rings still carry both directions.
	if _, err := b.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(fdringReader{rx: rx.Peek, rel: rx.Release}, got); err != nil || string(got) != "ping" {
		t.Fatalf("rx after Detach read %q, %v", got, err)
	}
	free, err := tx.Reserve()
	if err != nil || len(free) < 4 {
		t.Fatalf("tx Reserve after Detach: %d bytes, %v", len(free), err)
	}
	copy(free, "pong")
	if err := tx.Commit(4); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "pong" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read(got); err != io.EOF {
		t.Fatalf("peer Read after the detached tx closed = %v, want io.EOF", err)
	}
}

// fdringReader reads a detached Receiver with Peek/Release, bounded by the
// test's deadline (it polls: the ring is filled before it reads).
type fdringReader struct {
	rx  func() ([]byte, error)
	rel func(int) error
}

func (r fdringReader) Read(p []byte) (int, error) {
	deadline := time.Now().Add(detachTimeout)
	for time.Now().Before(deadline) {
		data, err := r.rx()
		if err != nil {
			return 0, err
		}
		if len(data) > 0 {
			n := copy(p, data)
			return n, r.rel(n)
		}
	}
	return 0, errors.New("no data before the deadline")
}

// TestDetachWakesBlockedRead: a Read blocked on the Conn returns
// net.ErrClosed, and Detach returns once it did.
func TestDetachWakesBlockedRead(t *testing.T) {
	a, _ := detachPipe(t)
	rerr := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		_, err := a.Read(make([]byte, 8))
		rerr <- err
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), detachTimeout)
	defer cancel()
	rx, tx, err := a.Detach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rx.Close()
	tx.Close()
	select {
	case err := <-rerr:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked Read = %v, want net.ErrClosed", err)
		}
	case <-time.After(detachTimeout):
		t.Fatal("blocked Read did not return")
	}
}

// blockingWriter blocks its first Write until release is closed.
type blockingWriter struct {
	entered, release chan struct{}
}

func (w blockingWriter) Write(p []byte) (int, error) {
	close(w.entered)
	<-w.release
	return len(p), nil
}

// TestDetachGivesUp: a WriteTo stuck in its dst.Write holds the receive
// side; Detach waits until its context ends, then closes the rings and
// fails with the context's error.
func TestDetachGivesUp(t *testing.T) {
	a, b := detachPipe(t)
	w := blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	werr := make(chan error, 1)
	go func() {
		_, err := a.WriteTo(w)
		werr <- err
	}()
	if _, err := b.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.entered:
	case <-time.After(detachTimeout):
		t.Fatal("WriteTo never called Write")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := a.Detach(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Detach with a WriteTo stuck = %v, want context.Canceled", err)
	}
	// The rings were closed: the peer sees the end.
	if _, err := b.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("peer Read after a failed Detach = %v, want io.EOF", err)
	}
	close(w.release)
	select {
	case err := <-werr:
		if err == nil {
			t.Fatal("WriteTo on a Conn closed by Detach returned nil")
		}
	case <-time.After(detachTimeout):
		t.Fatal("WriteTo did not return")
	}
}
