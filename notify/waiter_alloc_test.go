package notify

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// awaitBlocked returns once w's reads found nothing (the Wait in progress
// parks or is about to) more than base times, or an error after
// testTimeout. It yields rather than sleeps, and reports rather than
// fails, so that it can run in a measured function and on any goroutine.
func awaitBlocked(w *Waiter, base uint64) error {
	end := time.Now().Add(testTimeout)
	for i := 0; w.blocked.Load() <= base; i++ {
		if i%64 == 0 && time.Now().After(end) {
			return errors.New("the Wait never went to sleep")
		}
		runtime.Gosched()
	}
	return nil
}

// mustBlock is awaitBlocked that fails the test.
func mustBlock(t testing.TB, w *Waiter, base uint64) {
	t.Helper()
	if err := awaitBlocked(w, base); err != nil {
		t.Fatal(err)
	}
}

// result returns what res delivers, or fails the test after testTimeout.
func result(t testing.TB, res <-chan error) error {
	t.Helper()
	select {
	case err := <-res:
		return err
	case <-time.After(testTimeout):
		t.Fatal("Wait did not return")
		return nil
	}
}

// TestWaitSleepNoAllocs: a Wait that sleeps allocates nothing once warm,
// under a cancellable context reused for every Wait and under
// context.Background. Two Waiters play ping-pong: each side signals the
// other only once the other's read found nothing, so every round makes
// two real sleeps (the blocked counters prove it). AllocsPerRun counts the
// echo goroutine's allocations too.
func TestWaitSleepNoAllocs(t *testing.T) {
	for _, k := range kinds() {
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
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				ctx, cancel := c.ctx()
				defer cancel()
				testWaitSleepNoAllocs(t, k, ctx)
			})
		}
	}
}

func testWaitSleepNoAllocs(t *testing.T, k kind, ctx context.Context) {
	ping, pong := mustMake(t, k), mustMake(t, k)
	wping, wpong := mustWaiter(t, ping), mustWaiter(t, pong)
	var base atomic.Uint64 // wpong's blocked count before the pinger's Wait
	echoErr := make(chan error, 1)
	go func() {
		for {
			if err := wping.Wait(ctx); err != nil {
				if errors.Is(err, ErrInterrupted) {
					err = nil
				}
				echoErr <- err
				return
			}
			if err := awaitBlocked(wpong, base.Load()); err != nil {
				echoErr <- err
				return
			}
			if err := pong.Signal(); err != nil {
				echoErr <- err
				return
			}
		}
	}()
	var (
		echoAt uint64 // wping's blocked count when the pinger last signalled
		rerr   error
	)
	round := func() {
		if rerr != nil {
			return
		}
		if rerr = awaitBlocked(wping, echoAt); rerr != nil {
			return
		}
		echoAt = wping.blocked.Load()
		base.Store(wpong.blocked.Load())
		if rerr = ping.Signal(); rerr != nil {
			return
		}
		rerr = wpong.Wait(ctx)
	}
	round() // warm up
	if rerr != nil {
		t.Fatal(rerr)
	}
	// The echo's sleep for the first measured round may come before the
	// measure starts: count from the last hand-over.
	p0, e0 := wpong.blocked.Load(), echoAt
	const runs = 100
	a := testing.AllocsPerRun(runs, round)
	if rerr != nil {
		t.Fatal(rerr)
	}
	// AllocsPerRun makes one more run to warm up.
	if d := wpong.blocked.Load() - p0; d < runs+1 {
		t.Fatalf("the pinger slept %d times in %d rounds; want one per round", d, runs+1)
	}
	if d := wping.blocked.Load() - e0; d < runs+1 {
		t.Fatalf("the echo slept %d times in %d rounds; want one per round", d, runs+1)
	}
	if a != 0 && !raceEnabled {
		t.Errorf("a round of two sleeping Waits allocates %v times", a)
	}
	wping.Interrupt()
	if err := result(t, echoErr); err != nil {
		t.Fatalf("echo: %v", err)
	}
}

// BenchmarkWaitSleep measures a round of two Waits that sleep (the
// ping-pong of TestWaitSleepNoAllocs, without the wait for the peer to
// sleep first: most Waits sleep, some find the signal there).
func BenchmarkWaitSleep(b *testing.B) {
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
			k := kind{name: "New", make: New}
			ping, pong := mustMake(b, k), mustMake(b, k)
			wping, wpong := mustWaiter(b, ping), mustWaiter(b, pong)
			echoErr := make(chan error, 1)
			go func() {
				for {
					if err := wping.Wait(ctx); err != nil {
						if errors.Is(err, ErrInterrupted) {
							err = nil
						}
						echoErr <- err
						return
					}
					if err := pong.Signal(); err != nil {
						echoErr <- err
						return
					}
				}
			}()
			b.ReportAllocs()
			for b.Loop() {
				if err := ping.Signal(); err != nil {
					b.Fatal(err)
				}
				if err := wpong.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			wping.Interrupt()
			if err := result(b, echoErr); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// manualCtx is a context whose AfterFunc registrations the test can see:
// context.AfterFunc on it goes through its AfterFunc method (the
// afterFuncer interface of package context), so the test knows whether the
// Waiter holds a registration on it and how many it made.
type manualCtx struct {
	context.Context // Background: no values, no deadline
	done            chan struct{}

	mu         sync.Mutex
	err        error
	fs         map[int]func()
	registered int // AfterFunc calls
}

func newManualCtx() *manualCtx {
	return &manualCtx{Context: context.Background(), done: make(chan struct{}), fs: map[int]func(){}}
}

func (m *manualCtx) Done() <-chan struct{} { return m.done }

func (m *manualCtx) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// AfterFunc registers f, run at cancel.
func (m *manualCtx) AfterFunc(f func()) func() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.registered
	m.registered++
	m.fs[id] = f
	return func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		_, ok := m.fs[id]
		delete(m.fs, id)
		return ok
	}
}

// live returns how many registrations are in place, and how many were made.
func (m *manualCtx) live() (live, made int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.fs), m.registered
}

func (m *manualCtx) cancel() {
	m.mu.Lock()
	if m.err != nil {
		m.mu.Unlock()
		return
	}
	m.err = context.Canceled
	close(m.done)
	fs := m.fs
	m.fs = map[int]func(){}
	m.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// errAfter is a context that is cancelled by the n-th call of its Err
// (which still reports nil): a cancel that lands right after a Wait's
// check of ctx.Err(), deterministically.
type errAfter struct {
	context.Context
	cancelFn context.CancelFunc
	n        atomic.Int32
}

func (e *errAfter) Err() error {
	if e.n.Add(-1) == 0 {
		e.cancelFn()
		return nil
	}
	return e.Context.Err()
}

func TestWaiterContexts(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) { testWaiterContexts(t, k) })
	}
}

func testWaiterContexts(t *testing.T, k kind) {
	t.Run("CancelWhileSleeping", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		mustSignal(t, n)
		if err := w.Wait(ctx); err != nil { // registers on ctx
			t.Fatal(err)
		}
		base := w.blocked.Load()
		_, res := waitAsync(w, ctx)
		mustBlock(t, w, base)
		cancel()
		if err := result(t, res); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait when its context was cancelled: %v, want context.Canceled", err)
		}
	})
	t.Run("CancelBetweenWaits", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		ctx, cancel := context.WithCancel(context.Background())
		mustSignal(t, n)
		if err := w.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		// The callback found no Wait in progress; the next Wait sees the
		// end itself, also with a signal pending.
		mustSignal(t, n)
		if err := w.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait on a context cancelled after the last Wait: %v, want context.Canceled", err)
		}
		// The Waiter goes on with another context.
		if err := w.Wait(testContext(t)); err != nil {
			t.Fatalf("Wait on a fresh context: %v, want the pending signal", err)
		}
	})
	t.Run("CancelRacesArm", func(t *testing.T) {
		// The cancel lands right after Wait's first look at ctx.Err()
		// (calls=1), or right after the second, made under the lock once
		// the Wait is marked in progress (calls=2: the callback then finds
		// the mark and ends the read). On a fresh context (the Wait
		// registers) and on one registered by an earlier Wait (whose
		// callback may run before the mark: the second look sees the
		// end). No signal comes: only the cancel can end these Waits.
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		for _, reuse := range []bool{false, true} {
			for _, calls := range []int32{1, 2} {
				for range 50 {
					inner, cancel := context.WithCancel(context.Background())
					ctx := &errAfter{Context: inner, cancelFn: cancel}
					if reuse {
						ctx.n.Store(1 << 20)
						mustSignal(t, n)
						if err := w.Wait(ctx); err != nil {
							t.Fatal(err)
						}
					}
					ctx.n.Store(calls)
					_, res := waitAsync(w, ctx)
					if err := result(t, res); !errors.Is(err, context.Canceled) {
						t.Fatalf("reuse %v, cancel at Err call %d: Wait = %v, want context.Canceled", reuse, calls, err)
					}
					cancel()
				}
			}
		}
	})
	t.Run("OneRegistrationPerContext", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		m := newManualCtx()
		for range 1000 {
			mustSignal(t, n)
			if err := w.Wait(m); err != nil {
				t.Fatal(err)
			}
		}
		if live, made := m.live(); live != 1 || made != 1 {
			t.Fatalf("1000 Waits on one context: %d registrations made, %d in place; want 1 and 1", made, live)
		}
		// The registration's callback ends a Wait in progress on it; one
		// whose context did not end (an expiry with no cancel behind it)
		// re-arms and sleeps again. Then the cancel ends it.
		base := w.blocked.Load()
		_, res := waitAsync(w, m)
		mustBlock(t, w, base)
		w.mu.Lock()
		id := w.regID
		w.mu.Unlock()
		if !w.expire(id) {
			t.Fatal("the callback of the registration in use did not act")
		}
		mustBlock(t, w, base+1)
		m.cancel()
		if err := result(t, res); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait after 1000 on the same context, cancelled: %v, want context.Canceled", err)
		}
	})
	t.Run("SwitchContexts", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		m1, m2 := newManualCtx(), newManualCtx()
		mustSignal(t, n)
		if err := w.Wait(m1); err != nil {
			t.Fatal(err)
		}
		w.mu.Lock()
		old := w.regID
		w.mu.Unlock()
		// A Wait on m2 replaces m1's registration.
		base := w.blocked.Load()
		_, res := waitAsync(w, m2)
		mustBlock(t, w, base)
		if live, _ := m1.live(); live != 0 {
			t.Fatal("the registration on the previous context was not stopped")
		}
		if live, made := m2.live(); live != 1 || made != 1 {
			t.Fatalf("context in use: %d registrations made, %d in place; want 1 and 1", made, live)
		}
		// m1's cancel, and a late callback of its registration (which
		// context.AfterFunc may still deliver after a stop that lost the
		// race), leave the Wait on m2 asleep.
		m1.cancel()
		if w.expire(old) {
			t.Fatal("the replaced registration's callback ended the Wait on the new context")
		}
		mustSignal(t, n)
		if err := result(t, res); err != nil {
			t.Fatalf("Wait on m2 after m1 was cancelled: %v, want nil", err)
		}
		if d := w.blocked.Load() - base; d != 1 {
			t.Fatalf("the Wait on m2 parked %d times; want 1 (an expiry woke it)", d)
		}
	})
	t.Run("BackgroundKeepsRegistration", func(t *testing.T) {
		// A Wait that cannot be cancelled uses no registration and leaves
		// the last one in place (a stream that alternates reuses it); that
		// registration's callback must not end it.
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		m := newManualCtx()
		mustSignal(t, n)
		if err := w.Wait(m); err != nil {
			t.Fatal(err)
		}
		base := w.blocked.Load()
		_, res := waitAsync(w, context.Background())
		mustBlock(t, w, base)
		if live, _ := m.live(); live != 1 {
			t.Fatal("a Wait on Background dropped the registration")
		}
		m.cancel() // the callback runs now, in its own goroutine
		w.mu.Lock()
		id := w.regID
		w.mu.Unlock()
		if w.expire(id) { // and deterministically once more
			t.Fatal("the callback of a registration the Wait does not use ended it")
		}
		mustSignal(t, n)
		if err := result(t, res); err != nil {
			t.Fatalf("Wait on Background after the old context ended: %v, want nil", err)
		}
		if d := w.blocked.Load() - base; d != 1 {
			t.Fatalf("the Wait on Background parked %d times; want 1 (an expiry woke it)", d)
		}
		if err := w.Wait(m); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait on the cancelled context: %v, want context.Canceled", err)
		}
	})
	t.Run("CloseDuringWait", func(t *testing.T) {
		n := mustMake(t, k)
		w, err := NewWaiter(n.Fd())
		if err != nil {
			t.Fatal(err)
		}
		m := newManualCtx()
		mustSignal(t, n)
		if err := w.Wait(m); err != nil {
			t.Fatal(err)
		}
		w.mu.Lock()
		id := w.regID
		w.mu.Unlock()
		base := w.blocked.Load()
		_, res := waitAsync(w, m)
		mustBlock(t, w, base)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := result(t, res); !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait during Close: %v, want ErrClosed", err)
		}
		if live, _ := m.live(); live != 0 {
			t.Fatal("Close left the registration on the context: it keeps the Waiter reachable")
		}
		// The context's end and a late callback after Close do nothing.
		m.cancel()
		if w.expire(id) {
			t.Fatal("a callback acted on a closed Waiter")
		}
		if err := w.Wait(m); !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait after Close: %v", err)
		}
		if err := w.Wait(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait after Close: %v, want ErrClosed", err)
		}
		if live, made := m.live(); live != 0 || made != 1 {
			t.Fatalf("after Close: %d registrations made, %d in place; want 1 and 0", made, live)
		}
	})
	t.Run("CloseThenCancel", func(t *testing.T) {
		// A real cancellable context that outlives the Waiter.
		n := mustMake(t, k)
		w, err := NewWaiter(n.Fd())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		mustSignal(t, n)
		if err := w.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := w.Wait(testContext(t)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait after Close: %v, want ErrClosed", err)
		}
	})
}

// TestWaiterContextsStress: Waits on contexts that change every few
// Waits, with cancels, signals and Interrupts from other goroutines, then a
// Close. A Wait may end with nil (signal, spuriously), ErrInterrupted, or
// context.Canceled only when its own context was cancelled; none may hang.
func TestWaiterContextsStress(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			n := mustMake(t, k)
			w, err := NewWaiter(n.Fd())
			if err != nil {
				t.Fatal(err)
			}
			const waits = 400
			type ctxPair struct {
				ctx    context.Context
				cancel context.CancelFunc
			}
			ctxs := make(chan ctxPair, waits)
			stop := make(chan struct{})
			var helpers sync.WaitGroup
			helpers.Add(2)
			go func() { // cancels the contexts the Waits use, a little later
				defer helpers.Done()
				for {
					select {
					case p := <-ctxs:
						p.cancel()
					case <-stop:
						return
					}
				}
			}()
			go func() { // signals and interrupts
				defer helpers.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if i%7 == 0 {
						w.Interrupt()
					} else if err := n.Signal(); err != nil {
						t.Error(err)
						return
					}
					runtime.Gosched()
				}
			}()
			res := make(chan error, 1)
			go func() {
				defer close(res)
				var cur ctxPair
				for i := range waits {
					switch i % 5 {
					case 0: // a new context for the next five Waits
						ctx, cancel := context.WithCancel(context.Background())
						cur = ctxPair{ctx, cancel}
					case 2: // cancelled soon, while Waits may still use it
						ctxs <- cur
					}
					ctx := cur.ctx
					if i%11 == 0 {
						ctx = context.Background()
					}
					err := w.Wait(ctx)
					switch {
					case err == nil, errors.Is(err, ErrInterrupted):
					case errors.Is(err, context.Canceled) && ctx.Err() != nil:
					default:
						res <- err
						return
					}
				}
				cur.cancel()
			}()
			select {
			case err := <-res:
				if err != nil {
					t.Fatalf("Wait: %v", err)
				}
			case <-time.After(testTimeout):
				t.Fatal("the Waits did not finish")
			}
			close(stop)
			helpers.Wait()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
