//go:build linux

package fdring_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/loop"
	"golang.org/x/sys/unix"
)

// Third round of attacks on the duplex listener.

// dialWithin runs DialDuplex[uint64] bounded by half the handshake
// timeout: a dial that only gets through once the listener's own timeouts
// free it fails.
func dialWithin(t *testing.T, path string) (*fdring.Sender[uint64], *fdring.Receiver[uint64], error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fdring.HandshakeTimeout/2)
	defer cancel()
	tx, rx, err := fdring.DialDuplex[uint64](ctx, path, 64)
	if err == nil {
		t.Cleanup(func() { tx.Close(); rx.Close() })
	}
	return tx, rx, err
}

// serveWithin proves a well-behaved dialer gets through (both ways) before
// the listener's handshake timeout: failed handshakes of others, returned
// by AcceptDuplex meanwhile, are skipped.
func serveWithin(t *testing.T, path string, results <-chan dxResult) {
	t.Helper()
	type dialed struct {
		tx  *fdring.Sender[uint64]
		rx  *fdring.Receiver[uint64]
		err error
	}
	dc := make(chan dialed, 1)
	go func() {
		tx, rx, err := dialWithin(t, path)
		dc <- dialed{tx, rx, err}
	}()
	var d dialed
	select {
	case d = <-dc:
	case <-t.Context().Done():
		t.Fatal("test ended")
	}
	if d.err != nil {
		t.Fatalf("DialDuplex held up by hostile dialers: %v", d.err)
	}
	for range 2*fdring.MaxHandshakes + 2*fdring.MaxHalfOpen + 4 {
		r := nextResult(t, results)
		if r.err != nil {
			continue // another dialer's failed handshake
		}
		roundTrip(t, d.tx, r.rx, 21)
		roundTrip(t, r.tx, d.rx, 22)
		return
	}
	t.Fatal("the well-behaved dialer's channel never came out of AcceptDuplex")
}

// TestDuplexSilentFlood: more dialers that connect and stay silent than
// the listener reads first messages from at once. Before the fix the
// reader goroutines were all taken by them until HandshakeTimeout, and a
// well-behaved dialer behind them waited that long ("holds up nobody"
// was false): now the oldest silent connection makes room.
func TestDuplexSilentFlood(t *testing.T) {
	_, path, results := dxListen(t)
	var silent []*net.UnixConn
	for range fdring.MaxHandshakes + 8 {
		silent = append(silent, rawConn(t, path)) // connects, never sends a hello
	}
	serveWithin(t, path, results)
	// The first one was evicted: closed by the listener.
	if n, err := silent[0].Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
		t.Fatalf("oldest silent connection: read %d bytes, %v; want EOF (evicted)", n, err)
	}
}

// TestDuplexHalfOpenFlood: a dialer that fills the table of halves
// waiting for their second half. Before the fix every other dialer was
// refused (ErrHandshake) until those halves expired: now the oldest half
// makes room.
func TestDuplexHalfOpenFlood(t *testing.T) {
	l, path, results := dxListen(t)
	region, _, _ := duplexRegion(t, 64)
	var halves []*net.UnixConn
	for range fdring.MaxHalfOpen + 1 {
		c, _ := firstHalf(t, path, region, 64)
		halves = append(halves, c)
	}
	serveWithin(t, path, results)
	if n := fdring.HalfOpen(l); n > fdring.MaxHalfOpen {
		t.Fatalf("%d halves pending, at most %d", n, fdring.MaxHalfOpen)
	}
	// The oldest half was evicted: its connection closed.
	if n, err := halves[0].Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
		t.Fatalf("oldest half: read %d bytes, %v; want EOF (evicted)", n, err)
	}
}

// fdHandler reports the events of a plain fd.
type fdHandler struct{ fired chan struct{} }

func (h *fdHandler) OnEvent(loop.Token, loop.Event) {
	select {
	case h.fired <- struct{}{}:
	default:
	}
}

// ringNop is a ring handler that does nothing.
type ringNop struct{}

func (ringNop) OnEvent(loop.Token, loop.Event) {}

// TestLoopClosedRingFdReuse: a ring side a loop watches is closed from
// another goroutine (as the README allows: the loop wakes and its handler
// sees the end). Before the fix Close closed the side's fd at once, while
// the loop still had the number registered; a new fd that got the same
// number and was watched by the same loop then lost its registration when
// the handler unwatched the ring (epoll_ctl DEL on the reused number), and
// never got an event again. Now a watched side keeps its fd until the loop
// lets go of it (Unwatch).
func TestLoopClosedRingFdReuse(t *testing.T) {
	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tx, rx, err := fdring.New[uint64](64)
	if err != nil {
		t.Fatal(err)
	}
	rxFd := rx.Fd()
	tok, err := l.WatchRing(rx, ringNop{}, true)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { // Close from another goroutine
		defer close(closed)
		tx.Close()
		rx.Close()
	}()
	<-closed

	// Take the lowest free fd numbers until rxFd's, if it is free.
	reused := -1
	for range 16 {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if fd == rxFd {
			reused = fd
			break
		}
		if fd > rxFd {
			break
		}
	}
	if reused < 0 {
		t.Logf("fd %d not reused: held while the loop watches it", rxFd)
		if err := l.Unwatch(tok); err != nil {
			t.Fatal(err)
		}
		if _, err := unix.FcntlInt(uintptr(rxFd), unix.F_GETFD, 0); err == nil {
			t.Fatalf("fd %d still open after the closed side was unwatched", rxFd)
		}
		return
	}
	h := &fdHandler{fired: make(chan struct{}, 1)}
	if _, err := l.WatchFd(reused, h, loop.Readable); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(reused, []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	// The ring's handler saw the end and unwatches it.
	if err := l.Unwatch(tok); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- l.Run(ctx) }()
	select {
	case <-h.fired:
		l.Stop()
	case <-ctx.Done():
		t.Errorf("fd %d (the closed ring's number, reused) never reported readable: its registration was removed by the ring's Unwatch", reused)
	}
	<-ran
}
