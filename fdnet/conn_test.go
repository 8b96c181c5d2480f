package fdnet_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/fdnet"
)

var configs = []struct {
	name string
	opts []fdnet.Option
}{
	{"default", nil},
	{"4KiB", []fdnet.Option{fdnet.WithBufferSize(4 << 10)}},
	{"4KiB-nospin", []fdnet.Option{fdnet.WithBufferSize(4 << 10), fdnet.WithSpin(0)}},
}

// TestIntegrity streams pseudo-random bytes both ways at once, writes and
// reads of random sizes (up to three rings' worth, so writes wait for room
// and wrap the ring), and compares SHA-256 digests.
func TestIntegrity(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			a, b := pipe(t, cfg.opts...)
			size := int64(16 << 20)
			if testing.Short() {
				size = 1 << 20
			}
			chunk := 3 * fdnet.BufferSize(a)
			var wg sync.WaitGroup
			for i, dir := range [][2]*fdnet.Conn{{a, b}, {b, a}} {
				seed := uint64(i + 1)
				wg.Add(2)
				go func() {
					defer wg.Done()
					src, rng := newStream(seed, size), rand.New(rand.NewPCG(seed, 1))
					buf := make([]byte, chunk)
					for {
						n, err := src.Read(buf[:1+rng.IntN(chunk)])
						if err == io.EOF {
							break
						}
						if _, err := dir[0].Write(buf[:n]); err != nil {
							t.Errorf("write: %v", err)
							return
						}
					}
					if err := dir[0].CloseWrite(); err != nil {
						t.Errorf("close write: %v", err)
					}
				}()
				go func() {
					defer wg.Done()
					h, rng := sha256.New(), rand.New(rand.NewPCG(seed, 2))
					buf := make([]byte, chunk)
					var got int64
					for {
						n, err := dir[1].Read(buf[:1+rng.IntN(chunk)])
						h.Write(buf[:n])
						got += int64(n)
						if err == io.EOF {
							break
						}
						if err != nil {
							t.Errorf("read: %v", err)
							return
						}
					}
					if got != size || sum(h) != digest(seed, size) {
						t.Errorf("direction %d: got %d bytes, want %d; digests equal: %v", seed, got, size, sum(h) == digest(seed, size))
					}
				}()
			}
			wg.Wait()
		})
	}
}

// TestCopy moves a stream through io.Copy: into a Conn through ReadFrom
// (straight into ring memory), out of one through WriteTo (straight from
// ring memory), and from one Conn to another (WriteTo into Write).
func TestCopy(t *testing.T) {
	const size = 8 << 20
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			a1, b1 := pipe(t, cfg.opts...)
			a2, b2 := pipe(t, cfg.opts...)
			in := async(func() error {
				// stream has no WriteTo: io.Copy calls a1.ReadFrom.
				n, err := io.Copy(a1, newStream(7, size))
				if err == nil && n != size {
					err = errors.New("short ReadFrom")
				}
				return errors.Join(err, a1.CloseWrite())
			})
			relay := async(func() error {
				n, err := io.Copy(a2, b1) // b1.WriteTo(a2)
				if err == nil && n != size {
					err = errors.New("short relay")
				}
				return errors.Join(err, a2.CloseWrite())
			})
			h := sha256.New()
			n, err := io.Copy(h, b2) // b2.WriteTo(h)
			if err != nil || n != size {
				t.Fatalf("WriteTo: %d, %v; want %d, nil", n, err, size)
			}
			if err := await(t, in); err != nil {
				t.Fatal(err)
			}
			if err := await(t, relay); err != nil {
				t.Fatal(err)
			}
			if sum(h) != digest(7, size) {
				t.Fatal("digest differs")
			}
		})
	}
}

// blockingCall is a call that blocks on an idle or full Pipe, and the
// counter that rises when it goes to sleep.
type blockingCall struct {
	name   string
	call   func(c *fdnet.Conn) error
	sleeps func(c *fdnet.Conn) uint64
}

var blockingCalls = []blockingCall{
	{"Read", func(c *fdnet.Conn) error {
		_, err := c.Read(make([]byte, 10))
		return err
	}, readSleeps},
	{"Write", func(c *fdnet.Conn) error {
		_, err := c.Write(make([]byte, 4*fdnet.BufferSize(c)))
		return err
	}, writeSleeps},
	{"ReadFrom", func(c *fdnet.Conn) error {
		_, err := c.ReadFrom(zeros{})
		return err
	}, writeSleeps},
	{"WriteTo", func(c *fdnet.Conn) error {
		_, err := c.WriteTo(io.Discard)
		return err
	}, readSleeps},
}

// TestCloseUnblocks closes a Conn from another goroutine while a call on
// it sleeps: the call returns net.ErrClosed, and the peer sees io.EOF on
// Read and an error on Write.
func TestCloseUnblocks(t *testing.T) {
	for _, cfg := range configs {
		for _, bc := range blockingCalls {
			t.Run(cfg.name+"/"+bc.name, func(t *testing.T) {
				a, b := pipe(t, cfg.opts...)
				base := bc.sleeps(a)
				res := async(func() error { return bc.call(a) })
				waitSleeping(t, func() uint64 { return bc.sleeps(a) }, base)
				if err := a.Close(); err != nil {
					t.Fatal(err)
				}
				checkClosed(t, await(t, res))
				if err := a.Close(); err != nil {
					t.Fatalf("second Close: %v", err)
				}
				checkClosed(t, bc.call(a))

				if _, err := io.Copy(io.Discard, b); err != nil {
					t.Fatalf("peer drains: %v, want io.EOF (nil from io.Copy)", err)
				}
				if _, err := b.Write(make([]byte, 2*fdnet.BufferSize(b))); !errors.Is(err, fdring.ErrClosed) {
					t.Fatalf("peer Write: %v, want fdring.ErrClosed", err)
				}
			})
		}
	}
}

// TestCloseRace closes Conns at random moments while a Read and a Write, or
// a WriteTo and a ReadFrom, run on them and the peer echoes (and in every
// third round closes first): every call must return, with data or an
// error that reports one of the closes.
func TestCloseRace(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 20
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range rounds {
		cfg := configs[i%len(configs)]
		a, b, err := fdnet.Pipe(cfg.opts...)
		if err != nil {
			t.Fatal(err)
		}
		echo := async(func() error {
			_, err := io.Copy(b, b)
			return err
		})
		var calls []<-chan error
		if i%2 == 0 {
			calls = append(calls,
				async(func() error { _, err := a.Read(make([]byte, 1<<20)); return err }),
				async(func() error { _, err := a.Write(make([]byte, 1<<20)); return err }))
		} else {
			calls = append(calls,
				async(func() error { _, err := a.WriteTo(io.Discard); return err }),
				async(func() error { _, err := a.ReadFrom(io.LimitReader(zeros{}, 1<<20)); return err }))
		}
		// A random number of yields lets the calls get anywhere between
		// not started and sleeping.
		for range rng.IntN(200) {
			time.Sleep(0)
		}
		if i%3 == 0 {
			b.Close()
		}
		a.Close()
		for _, ch := range calls {
			// The peer's close, when it came first, ends a Read with
			// io.EOF and a Write with fdring.ErrClosed.
			if err := await(t, ch); err != nil && err != io.EOF && !errors.Is(err, net.ErrClosed) && !errors.Is(err, fdring.ErrClosed) {
				t.Fatalf("round %d: %v", i, err)
			}
		}
		b.Close()
		await(t, echo)
	}
}

// TestDeadlinePast moves the deadline of a blocked call into the past: it
// returns a timeout at once. Cleared again, the Conn works on.
func TestDeadlinePast(t *testing.T) {
	for _, cfg := range configs {
		for _, bc := range blockingCalls {
			t.Run(cfg.name+"/"+bc.name, func(t *testing.T) {
				a, b := pipe(t, cfg.opts...)
				base := bc.sleeps(a)
				res := async(func() error { return bc.call(a) })
				waitSleeping(t, func() uint64 { return bc.sleeps(a) }, base)
				if err := a.SetDeadline(time.Unix(1, 0)); err != nil {
					t.Fatal(err)
				}
				checkTimeout(t, await(t, res))
				checkTimeout(t, bc.call(a)) // still past: fails at once
				a.SetDeadline(time.Time{})
				roundTrip(t, a, b)
			})
		}
	}
}

// TestDeadlineShorten moves a far deadline of a blocked call to one second
// from now: it times out then, not before.
func TestDeadlineShorten(t *testing.T) {
	for _, bc := range blockingCalls {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel() // each waits for a deadline in seconds
			a, b := pipe(t, fdnet.WithBufferSize(4<<10))
			a.SetDeadline(time.Now().Add(time.Hour))
			base := bc.sleeps(a)
			res := async(func() error { return bc.call(a) })
			waitSleeping(t, func() uint64 { return bc.sleeps(a) }, base)
			set := time.Now()
			a.SetDeadline(set.Add(time.Second))
			checkTimeout(t, await(t, res))
			if d := time.Since(set); d < time.Second {
				t.Fatalf("timed out after %v, before the deadline", d)
			}
			a.SetDeadline(time.Time{})
			roundTrip(t, a, b)
		})
	}
}

// TestDeadlineExtend moves a near deadline of a blocked call far out: it
// does not time out at the first one, and completes when the peer acts.
// It also extends a deadline that has already expired and woken the call
// (a Read that times out is retried by the next one).
func TestDeadlineExtend(t *testing.T) {
	for _, bc := range blockingCalls {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel() // each waits for a deadline in seconds
			a, b := pipe(t, fdnet.WithBufferSize(4<<10))
			first := time.Now().Add(2 * time.Second)
			a.SetDeadline(first)
			base := bc.sleeps(a)
			res := async(func() error { return bc.call(a) })
			waitSleeping(t, func() uint64 { return bc.sleeps(a) }, base)
			extended := time.Now()
			a.SetDeadline(extended.Add(time.Hour))
			select {
			case err := <-res:
				if !extended.Before(first) {
					t.Skipf("machine too slow: extended %v after the first deadline", extended.Sub(first))
				}
				t.Fatalf("returned %v before the extended deadline", err)
			case <-time.After(time.Until(first) + 500*time.Millisecond):
			}
			// Now let the call complete: the peer writes, reads or closes.
			switch bc.name {
			case "Read":
				b.Write([]byte{1})
			case "WriteTo":
				b.Write([]byte{1})
				b.CloseWrite()
			case "Write":
				go io.Copy(io.Discard, b)
			case "ReadFrom":
				b.Close()
			}
			err := await(t, res)
			if bc.name == "ReadFrom" {
				if !errors.Is(err, fdring.ErrClosed) {
					t.Fatalf("ReadFrom after the peer closed: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// roundTrip checks that a and b still carry data both ways.
func roundTrip(t testing.TB, a, b *fdnet.Conn) {
	t.Helper()
	// Drain whatever a blocked Write left in either ring first.
	msg := []byte("after the deadline")
	for _, dir := range [][2]*fdnet.Conn{{a, b}, {b, a}} {
		w := async(func() error { _, err := dir[0].Write(msg); return err })
		buf := make([]byte, 64<<10)
		for {
			n, err := dir[1].Read(buf)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if bytes.HasSuffix(buf[:n], msg) {
				break
			}
		}
		if err := await(t, w); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHalfClose: after CloseWrite the peer reads everything, then io.EOF,
// and can still answer; after CloseRead Reads return io.EOF and the peer's
// writes fail.
func TestHalfClose(t *testing.T) {
	a, b := pipe(t, fdnet.WithBufferSize(4<<10))
	req := bytes.Repeat([]byte("request "), 2000) // several rings' worth
	w := async(func() error {
		_, err := a.Write(req)
		return errors.Join(err, a.CloseWrite())
	})
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, req) {
		t.Fatalf("peer read %d bytes, %v; want %d, nil", len(got), err, len(req))
	}
	if err := await(t, w); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after CloseWrite: %v, want net.ErrClosed", err)
	}
	resp := []byte("response")
	w = async(func() error {
		_, err := b.Write(resp)
		return errors.Join(err, b.Close())
	})
	if got, err := io.ReadAll(a); err != nil || !bytes.Equal(got, resp) {
		t.Fatalf("read after CloseWrite: %q, %v", got, err)
	}
	if err := await(t, w); err != nil {
		t.Fatal(err)
	}
}

// TestCloseWriteUnblocks: CloseWrite wakes a Write that waits for room.
func TestCloseWriteUnblocks(t *testing.T) {
	a, b := pipe(t, fdnet.WithBufferSize(4<<10))
	base := writeSleeps(a)
	res := async(func() error { _, err := a.Write(make([]byte, 64<<10)); return err })
	waitSleeping(t, func() uint64 { return writeSleeps(a) }, base)
	a.CloseWrite()
	checkClosed(t, await(t, res))
	if n, err := io.Copy(io.Discard, b); err != nil || n != 4<<10 {
		t.Fatalf("peer read %d, %v; want the ring's 4096 bytes, then io.EOF", n, err)
	}
	roundTripOneWay(t, b, a)
}

// TestCloseRead: a blocked Read returns io.EOF, later ones too, and the
// peer's writes fail; the other direction keeps working.
func TestCloseRead(t *testing.T) {
	a, b := pipe(t, fdnet.WithBufferSize(4<<10))
	base := readSleeps(a)
	res := async(func() error { _, err := a.Read(make([]byte, 10)); return err })
	waitSleeping(t, func() uint64 { return readSleeps(a) }, base)
	a.CloseRead()
	if err := await(t, res); err != io.EOF {
		t.Fatalf("blocked Read: %v, want io.EOF", err)
	}
	if _, err := a.Read(make([]byte, 10)); err != io.EOF {
		t.Fatalf("Read: %v, want io.EOF", err)
	}
	if _, err := b.Write(make([]byte, 16<<10)); !errors.Is(err, fdring.ErrClosed) {
		t.Fatalf("peer Write: %v, want fdring.ErrClosed", err)
	}
	roundTripOneWay(t, a, b)
}

func roundTripOneWay(t testing.TB, from, to *fdnet.Conn) {
	t.Helper()
	w := async(func() error { _, err := from.Write([]byte("ok")); return err })
	buf := make([]byte, 2)
	if _, err := io.ReadFull(to, buf); err != nil || string(buf) != "ok" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if err := await(t, w); err != nil {
		t.Fatal(err)
	}
}

// TestClosedConn: every call on a closed Conn fails with net.ErrClosed;
// zero-length calls on an open one succeed without blocking.
func TestClosedConn(t *testing.T) {
	a, _ := pipe(t)
	if n, err := a.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil): %d, %v", n, err)
	}
	if n, err := a.Write(nil); n != 0 || err != nil {
		t.Fatalf("Write(nil): %d, %v", n, err)
	}
	a.Close()
	for _, err := range []error{
		second(a.Read(nil)), second(a.Write([]byte("x"))),
		a.SetDeadline(time.Time{}), a.SetReadDeadline(time.Time{}), a.SetWriteDeadline(time.Time{}),
		a.CloseWrite(), a.CloseRead(),
	} {
		checkClosed(t, err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestOptions(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{1, 1}, {1000, 1024}, {4096, 4096}, {4097, 8192}, {1<<20 + 1, 2 << 20},
	} {
		a, b, err := fdnet.Pipe(fdnet.WithBufferSize(tc.in))
		if err != nil {
			t.Fatalf("WithBufferSize(%d): %v", tc.in, err)
		}
		if got := fdnet.BufferSize(a); got != tc.want {
			t.Errorf("WithBufferSize(%d): ring of %d bytes, want %d", tc.in, got, tc.want)
		}
		a.Close()
		b.Close()
	}
	a, b := pipe(t)
	if got := fdnet.BufferSize(a); got != fdnet.DefaultBufferSize {
		t.Errorf("default ring of %d bytes, want %d", got, fdnet.DefaultBufferSize)
	}
	for _, n := range []int{0, -1, fdnet.MaxBufferSize + 1, 1 << 50} {
		if _, _, err := fdnet.Pipe(fdnet.WithBufferSize(n)); err == nil {
			t.Errorf("WithBufferSize(%d) accepted", n)
		}
	}
	for _, addr := range []net.Addr{a.LocalAddr(), a.RemoteAddr(), b.LocalAddr(), b.RemoteAddr()} {
		if addr.Network() != "fdring" || addr.String() != "pipe" {
			t.Errorf("address %s %s, want fdring pipe", addr.Network(), addr)
		}
	}
}
