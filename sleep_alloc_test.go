package fdring_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/fdring/fdring"
)

// sleepPair is a ping-pong over two rings that never spin (WithSpin(0)):
// the pinger (the test's goroutine) Puts into ab and Gets from ba, an echo
// goroutine Gets from ab and Puts into ba. Each side hands the ball over
// only once the other one went to sleep (its Stats().Waits rose), so every
// round makes exactly two real sleeps, one per side.
type sleepPair struct {
	abTx *fdring.Sender[uint64]
	abRx *fdring.Receiver[uint64]
	baTx *fdring.Sender[uint64]
	baRx *fdring.Receiver[uint64]

	echoErr chan error
	echoAt  uint64 // the echo's Waits when the pinger last handed it the ball
}

// sleepBound bounds every wait for the other side to go to sleep.
const sleepBound = 20 * time.Second

// awaitSleep returns once the side whose Waits counter is waits has gone to
// sleep more than after times, or an error after sleepBound.
func awaitSleep(waits func() uint64, after uint64) error {
	deadline := time.Now().Add(sleepBound)
	for i := 0; waits() <= after; i++ {
		if i%64 == 0 && time.Now().After(deadline) {
			return errors.New("timed out waiting for the peer to sleep")
		}
		runtime.Gosched()
	}
	return nil
}

func newSleepPair(t *testing.T, ctx context.Context) *sleepPair {
	t.Helper()
	p := &sleepPair{echoErr: make(chan error, 1)}
	p.abTx, p.abRx = newChan[uint64](t, 4, fdring.WithSpin(0))
	p.baTx, p.baRx = newChan[uint64](t, 4, fdring.WithSpin(0))
	go func() {
		for {
			v, err := p.abRx.Get(ctx)
			if err != nil {
				if errors.Is(err, context.Canceled) {
					err = nil
				}
				p.echoErr <- err
				return
			}
			// The pinger's Get sleeps first: the ball comes back to a
			// sleeper.
			if err := awaitSleep(p.baRxWaits, v); err != nil {
				p.echoErr <- err
				return
			}
			if err := p.baTx.Put(ctx, v); err != nil {
				p.echoErr <- err
				return
			}
		}
	}()
	return p
}

func (p *sleepPair) abRxWaits() uint64 { return p.abRx.Stats().Waits }
func (p *sleepPair) baRxWaits() uint64 { return p.baRx.Stats().Waits }

// round sends the ball and waits for it back: two sleeps, one per side.
func (p *sleepPair) round(ctx context.Context) error {
	// The echo sleeps in its Get before the ball arrives. The ball carries
	// the pinger's Waits before its Get, so the echo knows which sleep to
	// wait for.
	if err := awaitSleep(p.abRxWaits, p.echoAt); err != nil {
		return err
	}
	p.echoAt = p.abRxWaits()
	w := p.baRxWaits()
	if err := p.abTx.Put(ctx, w); err != nil {
		return err
	}
	v, err := p.baRx.Get(ctx)
	if err != nil {
		return err
	}
	if v != w {
		return errors.New("the ball came back changed")
	}
	return nil
}

// TestSleepingRoundTripNoAllocs: a Put and Get that sleep on their fds
// allocate nothing once warm, under a cancellable context used for the
// whole stream and under context.Background (the common stream shapes),
// counting the echo goroutine's sleeps as well (AllocsPerRun counts every
// goroutine's allocations).
func TestSleepingRoundTripNoAllocs(t *testing.T) {
	for _, c := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"WithCancel", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{"WithTimeout", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Hour)
		}},
		{"Background", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := c.ctx()
			defer cancel()
			// The echo stops when the pair closes (Background never ends).
			p := newSleepPair(t, ctx)
			var rerr error
			round := func() {
				if rerr == nil {
					rerr = p.round(ctx)
				}
			}
			round() // warm up: the waiters are made on the first sleep
			if rerr != nil {
				t.Fatal(rerr)
			}
			// The echo's sleep for the first measured round may come
			// before the measure starts: count from the last hand-over.
			pw, ew := p.baRxWaits(), p.echoAt
			const runs = 100
			a := testing.AllocsPerRun(runs, round)
			if rerr != nil {
				t.Fatal(rerr)
			}
			// AllocsPerRun makes one more run to warm up.
			if d := p.baRxWaits() - pw; d < runs+1 {
				t.Fatalf("the pinger slept %d times in %d rounds; want at least one per round", d, runs+1)
			}
			if d := p.abRxWaits() - ew; d < runs+1 {
				t.Fatalf("the echo slept %d times in %d rounds; want at least one per round", d, runs+1)
			}
			if a != 0 && !raceEnabled {
				t.Errorf("a sleeping round trip (Put and Get on each side) allocates %v times", a)
			}
			p.abTx.Close() // ends the echo's Get (io.EOF)
			if err := <-p.echoErr; err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("echo: %v", err)
			}
		})
	}
}

// BenchmarkSleepingRoundTrip: one element there and back through two
// rings that never spin (WithSpin(0)), so that a side that finds nothing
// sleeps on its fd at once (most rounds sleep on both sides; the counts
// are reported). Its allocs/op is what a stream of sleeping waits costs.
func BenchmarkSleepingRoundTrip(b *testing.B) {
	for _, c := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"WithCancel", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{"Background", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx, cancel := c.ctx()
			defer cancel()
			abTx, abRx, err := fdring.New[uint64](4, fdring.WithSpin(0))
			if err != nil {
				b.Fatal(err)
			}
			baTx, baRx, err := fdring.New[uint64](4, fdring.WithSpin(0))
			if err != nil {
				b.Fatal(err)
			}
			defer func() { abRx.Close(); baTx.Close(); baRx.Close() }()
			echoErr := make(chan error, 1)
			go func() {
				for {
					v, err := abRx.Get(ctx)
					if err != nil {
						if errors.Is(err, io.EOF) {
							err = nil
						}
						echoErr <- err
						return
					}
					if err := baTx.Put(ctx, v); err != nil {
						echoErr <- err
						return
					}
				}
			}()
			b.ReportAllocs()
			var i uint64
			for b.Loop() {
				if err := abTx.Put(ctx, i); err != nil {
					b.Fatal(err)
				}
				if v, err := baRx.Get(ctx); err != nil || v != i {
					b.Fatalf("Get = %d, %v; want %d", v, err, i)
				}
				i++
			}
			b.ReportMetric(float64(baRx.Stats().Waits)/float64(i), "pinger-sleeps/op")
			b.ReportMetric(float64(abRx.Stats().Waits)/float64(i), "echo-sleeps/op")
			abTx.Close()
			if err := <-echoErr; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TestSleepingGetContexts: a Receiver whose Gets sleep under one context
// and then another. The first context's cancel must not end a Get on the
// second; the second's cancel ends a Get that sleeps under it; Close ends
// one that sleeps under a context that outlives the ring.
func TestSleepingGetContexts(t *testing.T) {
	tx, rx := newChan[uint64](t, 4, fdring.WithSpin(0))
	type got struct {
		v   uint64
		err error
	}
	sleepingGet := func(ctx context.Context) <-chan got {
		t.Helper()
		base := rx.Stats().Waits
		ch := make(chan got, 1)
		go func() {
			v, err := rx.Get(ctx)
			ch <- got{v, err}
		}()
		if err := awaitSleep(func() uint64 { return rx.Stats().Waits }, base); err != nil {
			t.Fatal(err)
		}
		return ch
	}
	result := func(ch <-chan got) got {
		t.Helper()
		select {
		case g := <-ch:
			return g
		case <-time.After(sleepBound):
			t.Fatal("Get did not return")
			return got{}
		}
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	for i := range uint64(3) { // the waiter registers on ctx1 and keeps it
		ch := sleepingGet(ctx1)
		if err := tx.Put(ctx1, i); err != nil {
			t.Fatal(err)
		}
		if g := result(ch); g.err != nil || g.v != i {
			t.Fatalf("Get(ctx1) = %d, %v; want %d", g.v, g.err, i)
		}
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	ch := sleepingGet(ctx2)
	cancel1()
	if err := tx.Put(ctx2, 7); err != nil {
		t.Fatal(err)
	}
	if g := result(ch); g.err != nil || g.v != 7 {
		t.Fatalf("Get(ctx2) after ctx1's cancel = %d, %v; want 7, nil", g.v, g.err)
	}
	ch = sleepingGet(ctx2)
	cancel2()
	if g := result(ch); !errors.Is(g.err, context.Canceled) {
		t.Fatalf("Get(ctx2) when ctx2 was cancelled: %v, want context.Canceled", g.err)
	}
	ctx3, cancel3 := context.WithCancel(context.Background())
	ch = sleepingGet(ctx3)
	if err := rx.Close(); err != nil {
		t.Fatal(err)
	}
	if g := result(ch); !errors.Is(g.err, fdring.ErrClosed) {
		t.Fatalf("Get during Close: %v, want ErrClosed", g.err)
	}
	cancel3() // after the ring let its waiter go: nothing happens
	if _, err := rx.Get(context.Background()); !errors.Is(err, fdring.ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
}
