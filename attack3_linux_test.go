//go:build linux

package fdring_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/fdring/fdring"
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
