//go:build linux

package fdring_test

// Attacks on the per-item API (Put, TryPut, Get, TryGet) by a concurrent
// closer and a careless user, over a heap ring (the inlined fast path
// without -race) and a Dial/Accept ring (always the slow path). Every
// blocking call has a deadline in seconds, every loop a bound.

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/loop"
)

// TestAttack4SenderCloseDuringStream: a third goroutine closes the Sender
// while its owner streams with Put. The receiver must get a gapless
// prefix of the stream, then io.EOF, and io.EOF again on every later Get
// (never an element after the end); the owner's Put ends with ErrClosed.
func TestAttack4SenderCloseDuringStream(t *testing.T) {
	for name, mk := range pgPairs(16) {
		t.Run(name, func(t *testing.T) {
			for round := range 40 {
				tx, rx := mk(t)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				closeAt := uint64(round*37%200 + 1)
				reached := make(chan struct{})
				putErr := make(chan error, 1)
				go func() {
					for i := uint64(0); i < 1<<20; i++ {
						if i == closeAt {
							close(reached)
						}
						if err := tx.Put(ctx, seq(i)); err != nil {
							putErr <- err
							return
						}
					}
					putErr <- errors.New("never stopped")
				}()
				go func() {
					<-reached
					tx.Close()
				}()
				var got uint64
				var err error
				for got < 1<<20 {
					var v uint64
					if v, err = rx.Get(ctx); err != nil {
						break
					}
					if v != seq(got) {
						t.Fatalf("round %d: element %d = %#x, want %#x", round, got, v, seq(got))
					}
					got++
				}
				if !errors.Is(err, io.EOF) {
					t.Fatalf("round %d: Get after %d elements: %v; want io.EOF", round, got, err)
				}
				for k := range 3 {
					if v, err := rx.Get(ctx); !errors.Is(err, io.EOF) {
						t.Fatalf("round %d: Get #%d after io.EOF = %#x, %v; want io.EOF", round, k, v, err)
					}
					if v, ok, err := rx.TryGet(); ok || !errors.Is(err, io.EOF) {
						t.Fatalf("round %d: TryGet #%d after io.EOF = %#x, %v, %v; want io.EOF", round, k, v, ok, err)
					}
				}
				if err := <-putErr; !errors.Is(err, fdring.ErrClosed) {
					t.Fatalf("round %d: Put after the Close: %v; want ErrClosed", round, err)
				}
				cancel()
			}
		})
	}
}

// TestAttack4ReceiverCloseDuringStream: a third goroutine closes the
// Receiver while its owner reads with Get and the producer streams with
// Put. The owner's Get ends with ErrClosed and keeps returning it (never
// an element after it); the producer's Put ends with ErrClosed, also when
// it sleeps on a full ring.
func TestAttack4ReceiverCloseDuringStream(t *testing.T) {
	for name, mk := range pgPairs(16) {
		t.Run(name, func(t *testing.T) {
			for round := range 40 {
				tx, rx := mk(t)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				putErr := make(chan error, 1)
				go func() {
					for i := uint64(0); i < 1<<20; i++ {
						if err := tx.Put(ctx, seq(i)); err != nil {
							putErr <- err
							return
						}
					}
					putErr <- errors.New("never stopped")
				}()
				closeAt := uint64(round*53%300 + 1)
				closed := make(chan struct{})
				var got uint64
				var err error
				for got < 1<<20 {
					if got == closeAt {
						go func() { rx.Close(); close(closed) }()
					}
					var v uint64
					if v, err = rx.Get(ctx); err != nil {
						break
					}
					if v != seq(got) {
						t.Fatalf("round %d: element %d = %#x, want %#x", round, got, v, seq(got))
					}
					got++
				}
				if !errors.Is(err, fdring.ErrClosed) {
					t.Fatalf("round %d: Get after %d elements: %v; want ErrClosed", round, got, err)
				}
				<-closed
				if v, err := rx.Get(ctx); !errors.Is(err, fdring.ErrClosed) {
					t.Fatalf("round %d: Get after ErrClosed = %#x, %v", round, v, err)
				}
				if v, ok, err := rx.TryGet(); ok || !errors.Is(err, fdring.ErrClosed) {
					t.Fatalf("round %d: TryGet after ErrClosed = %#x, %v, %v", round, v, ok, err)
				}
				if err := awaitErr(t, putErr, 25*time.Second, "Put after the receiver's close"); !errors.Is(err, fdring.ErrClosed) {
					t.Fatalf("round %d: Put after the receiver's close: %v; want ErrClosed", round, err)
				}
				cancel()
			}
		})
	}
}

// TestAttack4OwnCloseThenPutGet: after a side's own Close (from another
// goroutine, while the owner sleeps in Put on a full ring or in Get on an
// empty one) the owner's call returns ErrClosed promptly, and so does
// every later Put, TryPut, Get and TryGet, with no element.
func TestAttack4OwnCloseThenPutGet(t *testing.T) {
	for name, mk := range pgPairs(4, fdring.WithSpin(0)) {
		t.Run(name, func(t *testing.T) {
			tx, rx := mk(t)
			ctx := pgCtx(t)
			for i := range uint64(4) {
				if err := tx.Put(ctx, i); err != nil {
					t.Fatal(err)
				}
			}
			res := make(chan error, 1)
			go func() { res <- tx.Put(ctx, 99) }()
			waitFor(t, "Put to sleep", func() bool { return tx.Stats().Waits > 0 })
			tx.Close()
			if err := awaitErr(t, res, 10*time.Second, "Put woken by Close"); !errors.Is(err, fdring.ErrClosed) {
				t.Fatalf("sleeping Put after Close: %v", err)
			}
			if err := tx.Put(ctx, 1); !errors.Is(err, fdring.ErrClosed) {
				t.Fatalf("Put after Close: %v", err)
			}
			if ok, err := tx.TryPut(1); ok || !errors.Is(err, fdring.ErrClosed) {
				t.Fatalf("TryPut after Close: %v, %v", ok, err)
			}
			// The receiver drains the four, then io.EOF.
			for i := range uint64(4) {
				if v, err := rx.Get(ctx); err != nil || v != i {
					t.Fatalf("Get #%d = %d, %v", i, v, err)
				}
			}
			if _, err := rx.Get(ctx); !errors.Is(err, io.EOF) {
				t.Fatalf("Get at the end: %v", err)
			}
			rx.Close()
			if _, err := rx.Get(ctx); !errors.Is(err, fdring.ErrClosed) {
				t.Fatalf("Get after own Close: %v", err)
			}
			if _, ok, err := rx.TryGet(); ok || !errors.Is(err, fdring.ErrClosed) {
				t.Fatalf("TryGet after own Close: %v, %v", ok, err)
			}
		})
	}
}

// TestAttack4GetWokenByClose: the owner sleeps in Get on an empty ring;
// Close from another goroutine wakes it with ErrClosed.
func TestAttack4GetWokenByClose(t *testing.T) {
	for name, mk := range pgPairs(4, fdring.WithSpin(0)) {
		t.Run(name, func(t *testing.T) {
			_, rx := mk(t)
			ctx := pgCtx(t)
			res := make(chan error, 1)
			go func() { _, err := rx.Get(ctx); res <- err }()
			waitFor(t, "Get to sleep", func() bool { return rx.Stats().Waits > 0 })
			rx.Close()
			if err := awaitErr(t, res, 10*time.Second, "Get woken by Close"); !errors.Is(err, fdring.ErrClosed) {
				t.Fatalf("sleeping Get after Close: %v", err)
			}
		})
	}
}

// TestAttack4MixedCalls: a producer that alternates Put, TryPut, Send and
// Reserve/Commit, and a consumer that alternates Get, TryGet, Recv and
// Peek/Release, over a small ring: every element once, in order.
func TestAttack4MixedCalls(t *testing.T) {
	for name, mk := range pgPairs(8, fdring.WithSpin(0)) {
		t.Run(name, func(t *testing.T) {
			tx, rx := mk(t)
			ctx := pgCtx(t)
			const total = 30000
			errc := make(chan error, 1)
			go func() {
				next := uint64(0)
				for next < total {
					var err error
					switch next % 4 {
					case 0:
						err = tx.Put(ctx, seq(next))
						next++
					case 1:
						var ok bool
						if ok, err = tx.TryPut(seq(next)); ok {
							next++
						} else if err == nil {
							err = tx.Wait(ctx)
						}
					case 2:
						var n int
						n, err = tx.SendWait(ctx, func(f []uint64) int {
							k := min(len(f), 3, int(total-next))
							for i := range k {
								f[i] = seq(next + uint64(i))
							}
							return k
						})
						next += uint64(n)
					case 3:
						var free []uint64
						if free, err = tx.Reserve(); err == nil && len(free) > 0 {
							k := min(len(free), 2, int(total-next))
							for i := range k {
								free[i] = seq(next + uint64(i))
							}
							if err = tx.Commit(k); err == nil {
								next += uint64(k)
							}
						} else if err == nil {
							err = tx.Wait(ctx)
						}
					}
					if err != nil {
						errc <- err
						return
					}
				}
				errc <- tx.Close()
			}()
			got := uint64(0)
			check := func(v uint64) {
				if v != seq(got) {
					t.Fatalf("element %d = %#x, want %#x", got, v, seq(got))
				}
				got++
			}
			var err error
			for i := 0; err == nil && i < 4*total; i++ {
				switch i % 4 {
				case 0:
					var v uint64
					if v, err = rx.Get(ctx); err == nil {
						check(v)
					}
				case 1:
					var v uint64
					var ok bool
					if v, ok, err = rx.TryGet(); ok {
						check(v)
					} else if err == nil {
						err = rx.Wait(ctx)
					}
				case 2:
					_, err = rx.RecvWait(ctx, func(d []uint64) int {
						k := min(len(d), 5)
						for _, v := range d[:k] {
							check(v)
						}
						return k
					})
				case 3:
					var d []uint64
					if d, err = rx.Peek(); err == nil && len(d) > 0 {
						k := min(len(d), 2)
						for _, v := range d[:k] {
							check(v)
						}
						err = rx.Release(k)
					} else if err == nil {
						err = rx.Wait(ctx)
					}
				}
			}
			if !errors.Is(err, io.EOF) || got != total {
				t.Fatalf("consumer ended with %v after %d of %d", err, got, total)
			}
			if err := <-errc; err != nil {
				t.Fatalf("producer: %v", err)
			}
		})
	}
}

// TestAttack4LoopDrainsWithTryGet: a loop watches the Receiver and its
// handler drains with TryGet (on the loop's goroutine, the side's owner),
// while a producer streams with Put into a small ring with no spin: every
// element arrives, in order; no wakeup is lost on either side (both sleep
// often), and the end is io.EOF.
func TestAttack4LoopDrainsWithTryGet(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			l, err := loop.New(b.opts...)
			if err != nil {
				t.Fatal(err)
			}
			tx, rx := newChan[uint64](t, 8, fdring.WithSpin(0))
			const total = 50000
			done := make(chan error, 1)
			var got uint64
			var tok loop.Token
			tok, err = l.Watch(rx, loop.HandlerFunc(func(loop.Token, loop.Event) {
				for range 64 {
					v, ok, err := rx.TryGet()
					if err != nil {
						l.Unwatch(tok)
						if errors.Is(err, io.EOF) && got == total {
							err = nil
						}
						done <- err
						return
					}
					if !ok {
						return
					}
					if v != seq(got) {
						l.Unwatch(tok)
						done <- errors.New("out of order")
						return
					}
					got++
				}
			}), loop.Readable)
			if err != nil {
				t.Fatal(err)
			}
			wait := runLoop(t, l) // after Watch: the loop's methods are its goroutine's once it runs
			ctx := testCtx(t)
			perr := make(chan error, 1)
			go func() {
				for i := range uint64(total) {
					if err := tx.Put(ctx, seq(i)); err != nil {
						perr <- err
						return
					}
				}
				perr <- tx.Close()
			}()
			if err := awaitErr(t, perr, 30*time.Second, "producer"); err != nil {
				t.Fatalf("producer: %v", err)
			}
			if err := awaitErr(t, done, 30*time.Second, "loop consumer"); err != nil {
				t.Fatalf("loop consumer after %d: %v", got, err)
			}
			l.Close()
			wait()
		})
	}
}

// TestAttack4PutGetWakeNoAllocs: Put and Get allocate nothing also on
// their wake path (the peer declared it sleeps: Put or Get claims the
// wakeup and signals its fd), in both directions.
//
// Under -race the notifiers' syscall buffers escape (the detector's
// instrumentation of read and write), so only the signal counts are
// checked there.
func TestAttack4PutGetWakeNoAllocs(t *testing.T) {
	tx, rx := newChan[uint64](t, 16)
	ctx := context.Background()
	round := func() {
		// The receiver sleeps: Put wakes it.
		if rx.Arm() {
			panic("Arm on an empty ring reported work")
		}
		tx.Put(ctx, 1)
		rx.WaitClear()
		rx.Get(ctx)
		// The sender sleeps on a full ring: Get wakes it.
		for i := range uint64(16) {
			tx.Put(ctx, i)
		}
		if tx.Arm() {
			panic("Arm on a full ring reported room")
		}
		for range 16 {
			rx.Get(ctx)
		}
		tx.WaitClear()
	}
	round() // the first wakeups may set up lazily
	s0, r0 := tx.Stats().Signals, rx.Stats().Signals
	if a := testing.AllocsPerRun(200, round); a != 0 && !raceEnabled {
		t.Errorf("Put/Get with wakeups: %v allocs per round", a)
	}
	if s, r := tx.Stats().Signals-s0, rx.Stats().Signals-r0; s < 200 || r < 200 {
		t.Fatalf("signals: sender %d, receiver %d in 201 rounds; the wake paths did not run", s, r)
	}
}

// TestAttack4PingPongNoLostWakeup: two rings, a ball sent with Put and
// answered with Get and Put, no spin: both sides sleep on almost every
// message, so a wakeup the fast path (TryPut/TryGet with plain stores)
// loses shows as a Get that never returns (the deadline fails it).
func TestAttack4PingPongNoLostWakeup(t *testing.T) {
	for name, mk := range pgPairs(4, fdring.WithSpin(0)) {
		t.Run(name, func(t *testing.T) {
			ptx, prx := mk(t) // ping
			qtx, qrx := mk(t) // pong
			ctx := pgCtx(t)
			const rounds = 5000
			errc := make(chan error, 1)
			go func() {
				for range rounds {
					v, err := prx.Get(ctx)
					if err == nil {
						err = qtx.Put(ctx, v+1)
					}
					if err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			for i := range uint64(rounds) {
				if err := ptx.Put(ctx, 2*i); err != nil {
					t.Fatalf("ping %d: %v", i, err)
				}
				v, err := qrx.Get(ctx)
				if err != nil || v != 2*i+1 {
					t.Fatalf("pong %d = %d, %v", i, v, err)
				}
			}
			if err := awaitErr(t, errc, 30*time.Second, "ponger"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
