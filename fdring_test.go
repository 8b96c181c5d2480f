package fdring_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/notify"
	"github.com/fdring/fdring/ring"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newChan[T any](t *testing.T, capacity int, opts ...fdring.Option) (*fdring.Sender[T], *fdring.Receiver[T]) {
	t.Helper()
	tx, rx, err := fdring.New[T](capacity, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close(); rx.Close() })
	return tx, rx
}

// waitFor polls cond until it holds, bounded in time; used only to wait for
// a goroutine to reach a blocking state that has no signal of its own.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// seq is the i-th element of a test stream.
func seq(i uint64) uint64 { return i*0x9e3779b97f4a7c15 + 1 }

func TestSendRecv(t *testing.T) {
	tx, rx := newChan[uint64](t, 8)
	n, err := rx.Recv(func(d []uint64) int { t.Fatal("read on empty"); return 0 })
	if n != 0 || err != nil {
		t.Fatalf("empty Recv = %d, %v", n, err)
	}
	n, err = tx.Send(func(f []uint64) int { f[0], f[1] = 10, 20; return 2 })
	if n != 2 || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	var got []uint64
	n, err = rx.Recv(func(d []uint64) int { got = append(got, d...); return len(d) })
	if n != 2 || err != nil || got[0] != 10 || got[1] != 20 {
		t.Fatalf("Recv = %d, %v, %v", n, err, got)
	}
	for range 2 { // the free space is in two parts: before and after the wrap
		if n, _ := tx.Send(func(f []uint64) int { return len(f) }); n == 0 {
			t.Fatal("no room")
		}
	}
	if n, err := tx.Send(func(f []uint64) int { t.Fatal("fill on full"); return 0 }); n != 0 || err != nil {
		t.Fatalf("full Send = %d, %v", n, err)
	}
	if tx.Cap() != 8 || rx.Cap() != 8 {
		t.Fatalf("Cap = %d %d", tx.Cap(), rx.Cap())
	}
	st := tx.Stats()
	if st.Sent != 10 || st.Received != 2 || st.Signals != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNewRejects(t *testing.T) {
	if _, _, err := fdring.New[string](8); !errors.Is(err, fdring.ErrBadType) {
		t.Errorf("string: %v", err)
	}
	if _, _, err := fdring.New[struct{ P *int }](8); !errors.Is(err, fdring.ErrBadType) {
		t.Errorf("pointer field: %v", err)
	}
	if _, _, err := fdring.New[uint64](6); !errors.Is(err, ring.ErrCapacity) {
		t.Errorf("capacity 6: %v", err)
	}
	if _, _, err := fdring.New[uint64](8, fdring.WithMemory(make([]byte, 100))); !errors.Is(err, ring.ErrTooSmall) {
		t.Errorf("small memory: %v", err)
	}
	n, _ := notify.NewPipe()
	defer n.Close()
	if _, _, err := fdring.New[uint64](8, fdring.WithNotifiers(n, nil)); err == nil {
		t.Error("one notifier accepted")
	}
}

// stream moves total sequenced items from a producer goroutine to the
// calling goroutine through SendWait/RecvWait with random batch sizes and
// checks order, count and checksum.
func stream(t *testing.T, tx *fdring.Sender[uint64], rx *fdring.Receiver[uint64], total uint64) {
	t.Helper()
	ctx := testCtx(t)
	errc := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(5, 6))
		next := uint64(0)
		for next < total {
			want := 1 + rng.IntN(200)
			_, err := tx.SendWait(ctx, func(f []uint64) int {
				k := min(len(f), want, int(total-next))
				for i := range k {
					f[i] = next ^ 0x9e3779b97f4a7c15
					next++
				}
				return k
			})
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- tx.Close()
	}()
	rng := rand.New(rand.NewPCG(7, 8))
	var got, sum, wantSum uint64
	for {
		want := 1 + rng.IntN(200)
		_, err := rx.RecvWait(ctx, func(d []uint64) int {
			k := min(len(d), want)
			for _, v := range d[:k] {
				if v != got^0x9e3779b97f4a7c15 {
					t.Fatalf("item %d = %#x", got, v)
				}
				sum += v
				got++
			}
			return k
		})
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("RecvWait after %d: %v", got, err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for i := range total {
		wantSum += i ^ 0x9e3779b97f4a7c15
	}
	if got != total || sum != wantSum {
		t.Fatalf("got %d items (sum %#x), want %d (sum %#x)", got, sum, total, wantSum)
	}
}

func stressTotal() uint64 {
	if testing.Short() || raceEnabled {
		return 300_000
	}
	return 3_000_000
}

func TestStress(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []fdring.Option
		cap  int
	}{
		{"eventfd/spin", nil, 1024},
		{"eventfd/nospin", []fdring.Option{fdring.WithSpin(0)}, 64},
		{"pipe/nospin", []fdring.Option{fdring.WithNotifier(fdring.Pipe), fdring.WithSpin(0)}, 16},
		{"tiny", []fdring.Option{fdring.WithSpin(0)}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			tx, rx := newChan[uint64](t, c.cap, c.opts...)
			total := stressTotal()
			if c.cap == 1 {
				total /= 10
			}
			stream(t, tx, rx, total)
			st := rx.Stats()
			if st.Sent != total || st.Received != total {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestWithMemoryAndNotifiers(t *testing.T) {
	memory := make([]byte, ring.Size[uint64](256)+8)
	d, err := notify.NewPipe()
	if err != nil {
		t.Fatal(err)
	}
	s, err := notify.NewPipe()
	if err != nil {
		t.Fatal(err)
	}
	tx, rx := newChan[uint64](t, 256, fdring.WithMemory(memory[8:]), fdring.WithNotifiers(d, s), fdring.WithSpin(0))
	if rx.Fd() != d.Fd() || tx.Fd() != s.Fd() {
		t.Fatal("notifiers not used")
	}
	stream(t, tx, rx, stressTotal()/10)
	r, err := ring.Open[uint64](memory[8:])
	if err != nil {
		t.Fatalf("the ring does not live in the caller's memory: %v", err)
	}
	if got := r.Receiver().Received(); got != stressTotal()/10 {
		t.Fatalf("caller's memory shows %d received", got)
	}
}

func TestSenderCloseDrainsThenEOF(t *testing.T) {
	tx, rx := newChan[uint32](t, 8)
	tx.Send(func(f []uint32) int { f[0], f[1], f[2] = 1, 2, 3; return 3 })
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := tx.Send(func(f []uint32) int { return 1 }); !errors.Is(err, fdring.ErrClosed) {
		t.Fatalf("Send after Close = %v", err)
	}
	var got []uint32
	for {
		_, err := rx.RecvWait(testCtx(t), func(d []uint32) int { got = append(got, d[0]); return 1 })
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 3 || got[2] != 3 {
		t.Fatalf("drained %v", got)
	}
	if _, err := rx.Recv(func(d []uint32) int { return 0 }); err != io.EOF {
		t.Fatalf("Recv after EOF = %v", err)
	}
	if err := rx.Wait(testCtx(t)); err != io.EOF {
		t.Fatalf("Wait after EOF = %v", err)
	}
}

func TestReceiverCloseStopsSender(t *testing.T) {
	tx, rx := newChan[uint32](t, 4, fdring.WithSpin(0))
	tx.Send(func(f []uint32) int { return len(f) }) // full
	errc := make(chan error, 1)
	go func() {
		_, err := tx.SendWait(testCtx(t), func(f []uint32) int { return len(f) })
		errc <- err
	}()
	waitFor(t, "the sender to sleep", func() bool { return tx.Stats().Waits > 0 })
	if err := rx.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, fdring.ErrClosed) {
		t.Fatalf("blocked SendWait after receiver Close = %v", err)
	}
	if _, err := tx.Send(func(f []uint32) int { return 1 }); !errors.Is(err, fdring.ErrClosed) {
		t.Fatalf("Send = %v", err)
	}
	if _, err := rx.Recv(func(d []uint32) int { return len(d) }); !errors.Is(err, fdring.ErrClosed) {
		t.Fatalf("Recv on closed receiver = %v", err)
	}
	// With room in the ring, the sender learns of the close at the latest
	// on its second Send.
	tx2, rx2 := newChan[uint32](t, 64)
	rx2.Close()
	tx2.Send(func(f []uint32) int { return 1 })
	if _, err := tx2.Send(func(f []uint32) int { return 1 }); !errors.Is(err, fdring.ErrClosed) {
		t.Fatalf("second Send after receiver Close = %v", err)
	}
}

func TestRecvWaitWokenBySend(t *testing.T) {
	tx, rx := newChan[uint64](t, 16, fdring.WithSpin(0))
	for round := range 50 {
		got := make(chan uint64, 1)
		go func() {
			var v uint64
			_, err := rx.RecvWait(testCtx(t), func(d []uint64) int { v = d[0]; return 1 })
			if err != nil {
				t.Error(err)
			}
			got <- v
		}()
		waitFor(t, "the receiver to sleep", func() bool { return rx.Stats().Waits > uint64(round) })
		tx.Send(func(f []uint64) int { f[0] = uint64(round); return 1 })
		if v := <-got; v != uint64(round) {
			t.Fatalf("round %d got %d", round, v)
		}
	}
	if s := tx.Stats().Signals; s != 50 {
		t.Fatalf("sender signalled %d times for 50 sleeps", s)
	}
}

func TestSendWaitWokenByRecv(t *testing.T) {
	tx, rx := newChan[uint64](t, 2, fdring.WithSpin(0))
	tx.Send(func(f []uint64) int { return len(f) })
	done := make(chan error, 1)
	go func() {
		_, err := tx.SendWait(testCtx(t), func(f []uint64) int { f[0] = 99; return 1 })
		done <- err
	}()
	waitFor(t, "the sender to sleep", func() bool { return tx.Stats().Waits > 0 })
	rx.Recv(func(d []uint64) int { return 1 })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rx.Stats().Signals != 1 {
		t.Fatalf("receiver signals = %d", rx.Stats().Signals)
	}
}

func TestContext(t *testing.T) {
	tx, rx := newChan[uint64](t, 2, fdring.WithSpin(0))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := rx.RecvWait(ctx, func(d []uint64) int { return 1 }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := rx.RecvWait(ctx2, func(d []uint64) int { return 1 })
		done <- err
	}()
	waitFor(t, "the receiver to sleep", func() bool { return rx.Stats().Waits > 1 })
	cancel2()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
	cancelled, c := context.WithCancel(context.Background())
	c()
	tx.Send(func(f []uint64) int { return len(f) })
	if _, err := tx.SendWait(cancelled, func(f []uint64) int { return 1 }); !errors.Is(err, context.Canceled) {
		t.Fatalf("SendWait on full with cancelled ctx: %v", err)
	}
	// The channel still works after cancelled waits, and the stale
	// cancellations do not leak into the next waits.
	rx.Recv(func(d []uint64) int { return len(d) })
	rx.Recv(func(d []uint64) int { return len(d) })
	stream(t, tx, rx, 10_000)
}

func TestCloseWakesOwnWait(t *testing.T) {
	_, rx := newChan[uint64](t, 8, fdring.WithSpin(0))
	done := make(chan error, 1)
	go func() {
		_, err := rx.RecvWait(testCtx(t), func(d []uint64) int { return 1 })
		done <- err
	}()
	waitFor(t, "the receiver to sleep", func() bool { return rx.Stats().Waits > 0 })
	rx.Close()
	if err := <-done; !errors.Is(err, fdring.ErrClosed) {
		t.Fatalf("RecvWait after own Close = %v", err)
	}
}

func TestWriterReader(t *testing.T) {
	tx, rx := newChan[byte](t, 4096)
	src := make([]byte, 8<<20)
	rand.NewChaCha8([32]byte{1}).Read(src)
	if raceEnabled {
		src = src[:1<<20]
	}
	w, r := fdring.NewWriter(tx), fdring.NewReader(rx)
	errc := make(chan error, 1)
	go func() {
		// Hide bytes.Reader's WriteTo so io.Copy takes the Writer's
		// ReadFrom.
		_, err := io.Copy(w, struct{ io.Reader }{bytes.NewReader(src)})
		if err == nil {
			err = w.Close()
		}
		errc <- err
	}()
	var dst bytes.Buffer
	n, err := io.Copy(struct{ io.Writer }{&dst}, r) // takes Reader.WriteTo
	if err != nil || n != int64(len(src)) {
		t.Fatalf("copied %d, %v", n, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(dst.Bytes()) != sha256.Sum256(src) {
		t.Fatal("bytes differ")
	}

	// Plain Write and Read with odd sizes.
	tx2, rx2 := newChan[byte](t, 64)
	w2, r2 := fdring.NewWriter(tx2), fdring.NewReader(rx2)
	msg := bytes.Repeat([]byte("0123456789abcdefghij"), 500)
	go func() {
		for i := 0; i < len(msg); i += 37 {
			if _, err := w2.Write(msg[i:min(i+37, len(msg))]); err != nil {
				errc <- err
				return
			}
		}
		errc <- w2.Close()
	}()
	got, err := io.ReadAll(r2)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("ReadAll: %d bytes, %v", len(got), err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Write to a closed receiver fails.
	tx3, rx3 := newChan[byte](t, 16)
	rx3.Close()
	if _, err := fdring.NewWriter(tx3).Write(make([]byte, 100)); !errors.Is(err, fdring.ErrClosed) {
		t.Fatalf("Write to closed receiver: %v", err)
	}
}

func TestNoAllocs(t *testing.T) {
	tx, rx := newChan[uint64](t, 1024)
	ctx := context.Background()
	fill := func(f []uint64) int { f[0] = 1; return 1 }
	read := func(d []uint64) int { return len(d) }
	if a := testing.AllocsPerRun(1000, func() {
		tx.Send(fill)
		rx.Recv(read)
	}); a != 0 {
		t.Errorf("Send+Recv allocs = %v", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		tx.SendWait(ctx, fill)
		rx.RecvWait(ctx, read)
	}); a != 0 {
		t.Errorf("SendWait+RecvWait allocs = %v", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		free, _ := tx.Reserve()
		tx.Commit(len(free))
		data, _ := rx.Peek()
		rx.Release(len(data))
	}); a != 0 {
		t.Errorf("Reserve/Commit/Peek/Release allocs = %v", a)
	}
}

func fdCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

func TestNoFdLeak(t *testing.T) {
	before := fdCount(t)
	for i := range 1000 {
		opt := fdring.WithNotifier(fdring.Eventfd)
		if i%2 == 1 {
			opt = fdring.WithNotifier(fdring.Pipe)
		}
		tx, rx, err := fdring.New[uint64](8, opt, fdring.WithSpin(0))
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			// Create the waiters too.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			rx.RecvWait(ctx, func(d []uint64) int { return 0 })
			tx.Send(func(f []uint64) int { return len(f) })
			tx.SendWait(ctx, func(f []uint64) int { return 0 })
		}
		if i%2 == 0 {
			rx.Close()
			tx.Close()
		} else {
			tx.Close()
			rx.Close()
		}
	}
	if after := fdCount(t); after != before {
		t.Fatalf("fds: %d before, %d after", before, after)
	}
}

func TestCloseConcurrentWithWaits(t *testing.T) {
	// Close from another goroutine while both sides are blocked, many
	// times: no hang, no fd leak, no race.
	before := fdCount(t)
	for range 200 {
		tx, rx, err := fdring.New[uint64](1, fdring.WithSpin(0))
		if err != nil {
			t.Fatal(err)
		}
		tx.Send(func(f []uint64) int { return 1 })
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := tx.SendWait(testCtx(t), func(f []uint64) int { return 1 }); err != nil {
					return
				}
			}
		}()
		rx.Recv(func(d []uint64) int { return 1 })
		tx.Close()
		wg.Wait()
		rx.Close()
	}
	if after := fdCount(t); after != before {
		t.Fatalf("fds: %d before, %d after", before, after)
	}
}
