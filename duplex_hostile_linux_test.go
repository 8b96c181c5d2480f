//go:build linux

package fdring_test

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/ring"
	"github.com/fdring/fdring/shm"
	"golang.org/x/sys/unix"
)

// Duplex channels (DialDuplex, AcceptDuplex) against well-behaved and
// hostile dialers: fake dialers speak the handshake by hand.

const dxTimeout = 30 * time.Second

// dxResult is what one AcceptDuplex call returned.
type dxResult struct {
	tx  *fdring.Sender[uint64]
	rx  *fdring.Receiver[uint64]
	err error
}

// dxListen returns a Listener and a channel of the results of AcceptDuplex
// calls made one after another until the test ends.
func dxListen(t *testing.T) (*fdring.Listener, string, <-chan dxResult) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dx.sock")
	l, err := fdring.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan dxResult, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 { // bounded; the test's cancel ends it first
			tx, rx, err := fdring.AcceptDuplex[uint64](ctx, l)
			if ctx.Err() != nil {
				if tx != nil {
					tx.Close()
					rx.Close()
				}
				return
			}
			select {
			case results <- dxResult{tx, rx, err}:
			case <-ctx.Done(): // the test ended without reading them all
				if tx != nil {
					tx.Close()
					rx.Close()
				}
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		l.Close()
		for {
			select {
			case r := <-results:
				if r.tx != nil {
					r.tx.Close()
					r.rx.Close()
				}
			default:
				return
			}
		}
	})
	return l, path, results
}

// nextResult waits for the next AcceptDuplex result.
func nextResult(t *testing.T, results <-chan dxResult) dxResult {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(dxTimeout):
		t.Fatal("AcceptDuplex returned nothing")
		return dxResult{}
	}
}

// dialDuplex runs DialDuplex[uint64] with a deadline and the sides closed
// when the test ends.
func dialDuplex(t *testing.T, path string) (*fdring.Sender[uint64], *fdring.Receiver[uint64], error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dxTimeout)
	defer cancel()
	tx, rx, err := fdring.DialDuplex[uint64](ctx, path, 64)
	if err == nil {
		t.Cleanup(func() { tx.Close(); rx.Close() })
	}
	return tx, rx, err
}

// checkServes proves the listener still completes a well-behaved duplex
// connection, both ways.
func checkServes(t *testing.T, path string, results <-chan dxResult) {
	t.Helper()
	dialed := make(chan error, 1)
	var tx *fdring.Sender[uint64]
	var rx *fdring.Receiver[uint64]
	go func() {
		var err error
		tx, rx, err = dialDuplex(t, path)
		dialed <- err
	}()
	r := nextResult(t, results)
	if r.err != nil {
		t.Fatalf("AcceptDuplex of a well-behaved dialer: %v", r.err)
	}
	if err := <-dialed; err != nil {
		t.Fatalf("DialDuplex: %v", err)
	}
	roundTrip(t, tx, r.rx, 11)
	roundTrip(t, r.tx, rx, 12)
}

// roundTrip sends v on tx and expects it on rx.
func roundTrip(t *testing.T, tx *fdring.Sender[uint64], rx *fdring.Receiver[uint64], v uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dxTimeout)
	defer cancel()
	if _, err := tx.SendWait(ctx, func(f []uint64) int { f[0] = v; return 1 }); err != nil {
		t.Fatal(err)
	}
	var got uint64
	if _, err := rx.RecvWait(ctx, func(d []uint64) int { got = d[0]; return 1 }); err != nil || got != v {
		t.Fatalf("received %d, %v; want %d", got, err, v)
	}
}

// rawConn connects to path as a fake dialer.
func rawConn(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	c, err := net.Dial("unixpacket", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	conn := c.(*net.UnixConn)
	conn.SetDeadline(time.Now().Add(dxTimeout))
	return conn
}

// send sends msg (with fds) and returns the answer, or nil on a hangup.
func send(t *testing.T, conn *net.UnixConn, msg []byte, fds ...int) []byte {
	t.Helper()
	if err := shm.SendFds(conn, msg, fds...); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// duplexRegion makes the memory of a duplex channel of capacity uint64s,
// both rings laid out, as a fake dialer would.
func duplexRegion(t *testing.T, capacity int) (*shm.Region, []byte, []byte) {
	t.Helper()
	size, stride, total := fdring.DuplexLayout[uint64](capacity)
	region, err := shm.Create("fake-duplex", total)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { region.Close() })
	a, b := region.Bytes()[:size], region.Bytes()[stride:stride+size]
	for _, m := range [][]byte{a, b} {
		if _, err := ring.Init[uint64](m, capacity); err != nil {
			t.Fatal(err)
		}
	}
	return region, a, b
}

// firstHalf does a well-formed first half by hand and returns its
// connection and token.
func firstHalf(t *testing.T, path string, region *shm.Region, capacity int) (*net.UnixConn, [16]byte) {
	t.Helper()
	conn := rawConn(t, path)
	rep := send(t, conn, fdring.EncodeDuplexHello[uint64](capacity, region.Size()), region.Fd())
	tok, err := fdring.DecodeDuplexReply(rep)
	if err != nil {
		t.Fatalf("first half refused: %v", err)
	}
	return conn, tok
}

// TestDuplexKinds: mixing one-way and duplex, or element types, fails on
// both ends with errors.Is-able errors.
func TestDuplexKinds(t *testing.T) {
	t.Run("one-way-dial-to-duplex", func(t *testing.T) {
		_, path, results := dxListen(t)
		ctx, cancel := context.WithTimeout(context.Background(), dxTimeout)
		defer cancel()
		_, err := fdring.DialContext[uint64](ctx, path, 64)
		if !errors.Is(err, fdring.ErrKindMismatch) || !errors.Is(err, fdring.ErrTypeMismatch) {
			t.Fatalf("one-way Dial to AcceptDuplex: %v", err)
		}
		if r := nextResult(t, results); !errors.Is(r.err, fdring.ErrKindMismatch) {
			t.Fatalf("AcceptDuplex of a one-way dialer: %v", r.err)
		}
		checkServes(t, path, results)
	})
	t.Run("duplex-dial-to-one-way", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "oneway.sock")
		l, err := fdring.Listen(path)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), dxTimeout)
		defer cancel()
		accepted := make(chan error, 1)
		go func() {
			rx, err := fdring.AcceptContext[uint64](ctx, l)
			if err == nil {
				rx.Close()
			}
			accepted <- err
		}()
		_, _, err = fdring.DialDuplex[uint64](ctx, path, 64)
		if !errors.Is(err, fdring.ErrKindMismatch) {
			t.Fatalf("DialDuplex to a one-way Accept: %v", err)
		}
		if err := <-accepted; !errors.Is(err, fdring.ErrKindMismatch) {
			t.Fatalf("one-way Accept of a duplex dialer: %v", err)
		}
	})
	t.Run("element-type", func(t *testing.T) {
		_, path, results := dxListen(t)
		ctx, cancel := context.WithTimeout(context.Background(), dxTimeout)
		defer cancel()
		_, _, err := fdring.DialDuplex[[2]uint32](ctx, path, 64)
		if !errors.Is(err, fdring.ErrTypeMismatch) {
			t.Fatalf("DialDuplex of another type: %v", err)
		}
		if r := nextResult(t, results); !errors.Is(r.err, fdring.ErrTypeMismatch) {
			t.Fatalf("AcceptDuplex: %v", r.err)
		}
		checkServes(t, path, results)
	})
}

// TestDuplexHostileFirstHalf: malformed first messages are refused with a
// reply (or a hangup), AcceptDuplex reports each with ErrHandshake or a
// more precise error, and the listener goes on serving.
func TestDuplexHostileFirstHalf(t *testing.T) {
	const capacity = 64
	_, stride, total := fdring.DuplexLayout[uint64](capacity)
	unsealed := func(t *testing.T, size int) int {
		fd, err := unix.MemfdCreate("unsealed", unix.MFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Ftruncate(fd, int64(size)); err != nil {
			t.Fatal(err)
		}
		return fd
	}
	for _, tc := range []struct {
		name string
		want error
		run  func(t *testing.T, conn *net.UnixConn) []byte
	}{
		{"layout: memory size off by one stride", fdring.ErrHandshake, func(t *testing.T, conn *net.UnixConn) []byte {
			region, _, _ := duplexRegion(t, capacity)
			return send(t, conn, fdring.EncodeDuplexHello[uint64](capacity, total+stride), region.Fd())
		}},
		{"layout: one ring's memory", fdring.ErrHandshake, func(t *testing.T, conn *net.UnixConn) []byte {
			region, _, _ := duplexRegion(t, capacity)
			return send(t, conn, fdring.EncodeDuplexHello[uint64](capacity, ring.Size[uint64](capacity)), region.Fd())
		}},
		{"memfd smaller than the hello says", shm.ErrSize, func(t *testing.T, conn *net.UnixConn) []byte {
			region, _, _ := duplexRegion(t, capacity/2)
			return send(t, conn, fdring.EncodeDuplexHello[uint64](capacity, total), region.Fd())
		}},
		{"capacity not a power of two", fdring.ErrHandshake, func(t *testing.T, conn *net.UnixConn) []byte {
			region, _, _ := duplexRegion(t, capacity)
			return send(t, conn, fdring.EncodeDuplexHello[uint64](capacity+1, total), region.Fd())
		}},
		{"memfd not sealed", shm.ErrNotSealed, func(t *testing.T, conn *net.UnixConn) []byte {
			return send(t, conn, fdring.EncodeDuplexHello[uint64](capacity, total), unsealed(t, total))
		}},
		{"no fd", fdring.ErrHandshake, func(t *testing.T, conn *net.UnixConn) []byte {
			return send(t, conn, fdring.EncodeDuplexHello[uint64](capacity, total))
		}},
		{"two fds", fdring.ErrHandshake, func(t *testing.T, conn *net.UnixConn) []byte {
			region, _, _ := duplexRegion(t, capacity)
			return send(t, conn, fdring.EncodeDuplexHello[uint64](capacity, total), region.Fd(), region.Fd())
		}},
		{"second ring header garbage", fdring.ErrHandshake, func(t *testing.T, conn *net.UnixConn) []byte {
			region, _, b := duplexRegion(t, capacity)
			binary.NativeEndian.PutUint64(b[ring.OffMagic:], 0xdead)
			return send(t, conn, fdring.EncodeDuplexHello[uint64](capacity, total), region.Fd())
		}},
		{"second ring corrupt indices", fdring.ErrCorrupt, func(t *testing.T, conn *net.UnixConn) []byte {
			region, _, b := duplexRegion(t, capacity)
			binary.NativeEndian.PutUint64(b[ring.OffTail:], 10*capacity)
			return send(t, conn, fdring.EncodeDuplexHello[uint64](capacity, total), region.Fd())
		}},
		{"join carrying an fd", fdring.ErrHandshake, func(t *testing.T, conn *net.UnixConn) []byte {
			region, _, _ := duplexRegion(t, capacity)
			return send(t, conn, fdring.EncodeJoin([16]byte{1}), region.Fd())
		}},
		{"garbage", fdring.ErrHandshake, func(t *testing.T, conn *net.UnixConn) []byte {
			return send(t, conn, []byte("GET / HTTP/1.1\r\n\r\n"))
		}},
		{"huge capacity", fdring.ErrHandshake, func(t *testing.T, conn *net.UnixConn) []byte {
			region, _, _ := duplexRegion(t, capacity)
			return send(t, conn, fdring.EncodeDuplexHello[uint64](1<<40, total), region.Fd())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, path, results := dxListen(t)
			rep := tc.run(t, rawConn(t, path))
			if rep != nil {
				if _, err := fdring.DecodeDuplexReply(rep); err == nil {
					t.Fatal("the listener accepted a hostile first half")
				}
			}
			r := nextResult(t, results)
			if !errors.Is(r.err, tc.want) {
				t.Fatalf("AcceptDuplex: %v, want %v", r.err, tc.want)
			}
			checkServes(t, path, results)
		})
	}
}

// TestDuplexForeignToken: a second half with a token the listener never
// issued is refused; so is a token used once already.
func TestDuplexForeignToken(t *testing.T) {
	_, path, results := dxListen(t)
	rep := send(t, rawConn(t, path), fdring.EncodeJoin([16]byte{0xfd, 0x1}))
	if err := fdring.DecodeReply(rep); !errors.Is(err, fdring.ErrHandshake) {
		t.Fatalf("join with a forged token answered %x (%v)", rep, err)
	}
	if r := nextResult(t, results); !errors.Is(r.err, fdring.ErrHandshake) {
		t.Fatalf("AcceptDuplex: %v", r.err)
	}

	// A token works once.
	region, _, _ := duplexRegion(t, 64)
	_, tok := firstHalf(t, path, region, 64)
	if err := fdring.DecodeReply(send(t, rawConn(t, path), fdring.EncodeJoin(tok))); err != nil {
		t.Fatalf("the genuine second half was refused: %v", err)
	}
	r := nextResult(t, results)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if err := fdring.DecodeReply(send(t, rawConn(t, path), fdring.EncodeJoin(tok))); !errors.Is(err, fdring.ErrHandshake) {
		t.Fatalf("a replayed token: %v", err)
	}
	if r := nextResult(t, results); !errors.Is(r.err, fdring.ErrHandshake) {
		t.Fatalf("AcceptDuplex of a replayed token: %v", r.err)
	}
	checkServes(t, path, results)
}

// The child for TestDuplexSecondHalfFromOtherProcess: it sends a join
// with the token it is given and exits 0 if refused.
const dxChildEnv = "FDRING_DUPLEX_JOIN"

func TestDuplexChildHelper(t *testing.T) {
	spec := os.Getenv(dxChildEnv)
	if spec == "" {
		t.Skip("only runs as a child process")
	}
	os.Exit(func() int {
		var tok [16]byte
		b, err := hex.DecodeString(spec)
		if err != nil || len(b) != 16 {
			return 10
		}
		copy(tok[:], b)
		c, err := net.Dial("unixpacket", os.Getenv("FDRING_PATH"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 11
		}
		c.SetDeadline(time.Now().Add(dxTimeout))
		if _, err := c.Write(fdring.EncodeJoin(tok)); err != nil {
			return 12
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			return 0 // hung up on: refused
		}
		if fdring.DecodeReply(buf[:n]) == nil {
			return 1 // accepted: the test fails
		}
		return 0
	}())
}

// TestDuplexSecondHalfFromOtherProcess: another process that learned the
// token (it cannot, but say it did) cannot complete the connection: the
// second half must come from the first's process. The half is dropped
// (its connection closed) and the token is dead for the genuine dialer.
func TestDuplexSecondHalfFromOtherProcess(t *testing.T) {
	_, path, results := dxListen(t)
	region, _, _ := duplexRegion(t, 64)
	conn1, tok := firstHalf(t, path, region, 64)

	ctx, cancel := context.WithTimeout(context.Background(), dxTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDuplexChildHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FDRING_CHILD=", dxChildEnv+"="+hex.EncodeToString(tok[:]), "FDRING_PATH="+path)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the foreign second half was not refused: %v", err)
	}
	if r := nextResult(t, results); !errors.Is(r.err, fdring.ErrHandshake) {
		t.Fatalf("AcceptDuplex of a foreign second half: %v", r.err)
	}
	// The first half's connection was closed...
	if n, err := conn1.Read(make([]byte, 64)); err == nil {
		t.Fatalf("the first half's connection still open (read %d bytes)", n)
	}
	// ...and the genuine second half comes too late.
	if err := fdring.DecodeReply(send(t, rawConn(t, path), fdring.EncodeJoin(tok))); !errors.Is(err, fdring.ErrHandshake) {
		t.Fatalf("second half after a foreign one: %v", err)
	}
	if r := nextResult(t, results); !errors.Is(r.err, fdring.ErrHandshake) {
		t.Fatalf("AcceptDuplex: %v", r.err)
	}
	checkServes(t, path, results)
}

// TestDuplexHalfOpenExpires: a dialer that never sends its second half,
// and one that never says anything, hold up nobody; the half expires and
// its connection is closed.
func TestDuplexHalfOpenExpires(t *testing.T) {
	l, path, results := dxListen(t)
	fdring.SetHalfOpenTimeout(l, 100*time.Millisecond)
	silent := rawConn(t, path) // connects, never sends a hello
	region, _, _ := duplexRegion(t, 64)
	conn1, tok := firstHalf(t, path, region, 64)

	checkServes(t, path, results) // while both wait

	// The listener closes the half at its deadline: end of file.
	if n, err := conn1.Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
		t.Fatalf("half-open connection: read %d bytes, %v; want EOF", n, err)
	}
	if n := fdring.HalfOpen(l); n != 0 {
		t.Fatalf("%d halves still pending", n)
	}
	if err := fdring.DecodeReply(send(t, rawConn(t, path), fdring.EncodeJoin(tok))); !errors.Is(err, fdring.ErrHandshake) {
		t.Fatalf("second half after expiry: %v", err)
	}
	if r := nextResult(t, results); !errors.Is(r.err, fdring.ErrHandshake) {
		t.Fatalf("AcceptDuplex: %v", r.err)
	}
	// The silent one is still within its handshake timeout: closing the
	// Listener ends it.
	l.Close()
	if n, err := silent.Read(make([]byte, 64)); err == nil {
		t.Fatalf("silent connection: read %d bytes after the Listener closed", n)
	}
}

// TestDuplexCorruptAfterSetup: a dialer that completes the handshake by
// hand, then scribbles over both ring headers: the listener's Recv and
// Send report ErrCorrupt, and nothing faults.
func TestDuplexCorruptAfterSetup(t *testing.T) {
	const capacity = 64
	_, path, results := dxListen(t)
	region, a, b := duplexRegion(t, capacity)
	_, tok := firstHalf(t, path, region, capacity)
	if err := fdring.DecodeReply(send(t, rawConn(t, path), fdring.EncodeJoin(tok))); err != nil {
		t.Fatal(err)
	}
	r := nextResult(t, results)
	if r.err != nil {
		t.Fatal(r.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dxTimeout)
	defer cancel()

	// Ring A (dialer -> listener): a tail far beyond the head.
	binary.NativeEndian.PutUint64(a[ring.OffTail:], 1<<40)
	if _, err := r.rx.RecvWait(ctx, func(d []uint64) int { return len(d) }); !errors.Is(err, fdring.ErrCorrupt) {
		t.Fatalf("Recv on a corrupt ring: %v", err)
	}
	// Ring B (listener -> dialer): the dialer's head ahead of the tail.
	binary.NativeEndian.PutUint64(b[ring.OffHead:], 1<<40)
	var err error
	for i := 0; i < 4 && err == nil; i++ { // the first fill uses the cached room
		_, err = r.tx.SendWait(ctx, func(f []uint64) int { return len(f) })
	}
	if !errors.Is(err, fdring.ErrCorrupt) {
		t.Fatalf("Send on a corrupt ring: %v", err)
	}
	checkServes(t, path, results)
}
