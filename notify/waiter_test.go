package notify

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testTimeout bounds every blocking test: generous for a loaded machine.
const testTimeout = 20 * time.Second

// shortWait is how long a Wait that must not be woken is given to show it.
const shortWait = 30 * time.Millisecond

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// mustWaiter makes a Waiter on n's fd, closed when the test ends.
func mustWaiter(t testing.TB, n Notifier) *Waiter {
	t.Helper()
	w, err := NewWaiter(n.Fd())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// waitAsync starts w.Wait(ctx) on another goroutine. ready is closed right
// before Wait is called; the result arrives on the returned channel.
func waitAsync(w *Waiter, ctx context.Context) (ready <-chan struct{}, result <-chan error) {
	r := make(chan struct{})
	res := make(chan error, 1)
	go func() {
		close(r)
		res <- w.Wait(ctx)
	}()
	return r, res
}

// expectTimeout asserts that w.Wait with a short deadline is not woken.
func expectTimeout(t testing.TB, w *Waiter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), shortWait)
	defer cancel()
	if err := w.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with nothing pending: %v, want context.DeadlineExceeded", err)
	}
}

func TestWaiter(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) { testWaiter(t, k) })
	}
}

func testWaiter(t *testing.T, k kind) {
	t.Run("SignalWakes", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		for range 100 {
			ready, res := waitAsync(w, testContext(t))
			<-ready // the waiter may or may not have parked yet
			mustSignal(t, n)
			if err := <-res; err != nil {
				t.Fatalf("Wait: %v, want nil", err)
			}
		}
	})
	t.Run("SignalBeforeWait", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		mustSignal(t, n)
		mustSignal(t, n)
		if err := w.Wait(testContext(t)); err != nil {
			t.Fatalf("Wait with a pending signal: %v", err)
		}
		if readable(t, n.Fd()) {
			t.Error("Wait did not consume the signals")
		}
		expectTimeout(t, w)
	})
	t.Run("NoContextDone", func(t *testing.T) {
		// context.Background has no Done channel: no callback is armed.
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		mustSignal(t, n)
		if err := w.Wait(context.Background()); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	})
	t.Run("Cancel", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		ready, res := waitAsync(w, ctx)
		<-ready
		cancel()
		// A deadline would report DeadlineExceeded: Canceled means the
		// cancel ended the wait.
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait: %v, want context.Canceled", err)
		}
		// The waiter is still usable.
		mustSignal(t, n)
		if err := w.Wait(testContext(t)); err != nil {
			t.Fatalf("Wait after a cancelled Wait: %v", err)
		}
	})
	t.Run("AlreadyDone", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := w.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait(cancelled ctx): %v, want context.Canceled", err)
		}
		ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		if err := w.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait(expired ctx): %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("Deadline", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		start := time.Now()
		expectTimeout(t, w)
		if d := time.Since(start); d < shortWait {
			t.Errorf("Wait returned after %v, before its %v deadline", d, shortWait)
		}
		// The expired deadline does not stick to the next Wait.
		mustSignal(t, n)
		if err := w.Wait(testContext(t)); err != nil {
			t.Fatalf("Wait after a timed-out Wait: %v", err)
		}
	})
	t.Run("Interrupt", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		for range 100 {
			ready, res := waitAsync(w, testContext(t))
			<-ready
			w.Interrupt()
			if err := <-res; !errors.Is(err, ErrInterrupted) {
				t.Fatalf("Wait: %v, want ErrInterrupted", err)
			}
		}
		// Each Interrupt was consumed by its Wait.
		expectTimeout(t, w)
	})
	t.Run("InterruptBeforeWait", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		w.Interrupt()
		w.Interrupt() // interrupts do not count up
		if err := w.Wait(testContext(t)); !errors.Is(err, ErrInterrupted) {
			t.Fatalf("Wait after Interrupt: %v, want ErrInterrupted", err)
		}
		expectTimeout(t, w)
		mustSignal(t, n)
		if err := w.Wait(testContext(t)); err != nil {
			t.Fatalf("Wait after Signal: %v", err)
		}
	})
	t.Run("InterruptNoContextDone", func(t *testing.T) {
		// Interrupt must work without a context callback or deadline.
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		res := make(chan error, 1)
		ready := make(chan struct{})
		go func() {
			close(ready)
			res <- w.Wait(context.Background())
		}()
		<-ready
		w.Interrupt()
		select {
		case err := <-res:
			if !errors.Is(err, ErrInterrupted) {
				t.Fatalf("Wait: %v, want ErrInterrupted", err)
			}
		case <-testContext(t).Done():
			w.Close() // release the goroutine
			t.Fatal("Interrupt did not end a Wait without a deadline")
		}
	})
	t.Run("CloseEndsWait", func(t *testing.T) {
		n := mustMake(t, k)
		w, err := NewWaiter(n.Fd())
		if err != nil {
			t.Fatal(err)
		}
		ready, res := waitAsync(w, testContext(t))
		<-ready
		if err := w.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-res; !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait during Close: %v, want ErrClosed", err)
		}
		if err := w.Wait(testContext(t)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait after Close: %v, want ErrClosed", err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		w.Interrupt() // harmless after Close
	})
	t.Run("StaleContextCallback", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		// ctx1's Wait ends by a signal; ctx1 is cancelled only after.
		ctx1, cancel1 := context.WithCancel(context.Background())
		mustSignal(t, n)
		if err := w.Wait(ctx1); err != nil {
			t.Fatalf("Wait(ctx1): %v", err)
		}
		cancel1()
		ready, res := waitAsync(w, testContext(t))
		<-ready
		mustSignal(t, n)
		if err := <-res; err != nil {
			t.Fatalf("Wait(ctx2) after cancelling ctx1: %v, want nil", err)
		}
		// Deterministically, an expiry of an earlier registration
		// delivered before or during the next Wait must not end it.
		w.mu.Lock()
		stale := w.regID
		w.mu.Unlock()
		ready, res = waitAsync(w, testContext(t))
		<-ready
		if w.expire(stale) {
			t.Fatal("a stale registration's callback ended the Wait")
		}
		mustSignal(t, n)
		if err := <-res; err != nil {
			t.Fatalf("Wait after a stale expiry: %v, want nil", err)
		}
	})
	t.Run("StaleContextCallbackRace", func(t *testing.T) {
		// Cancel ctx1 while its Wait is returning, so the callback may
		// run late, then wait on a fresh context.
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		for range 200 {
			ctx1, cancel1 := context.WithCancel(context.Background())
			mustSignal(t, n)
			go cancel1()
			if err := w.Wait(ctx1); err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("Wait(ctx1): %v", err)
			}
			mustClear(t, n) // if the cancel won, the signal is still pending
			ready, res := waitAsync(w, testContext(t))
			<-ready
			mustSignal(t, n)
			if err := <-res; err != nil {
				t.Fatalf("Wait(ctx2): %v, want nil", err)
			}
		}
	})
	t.Run("CloseDoesNotCloseNotifier", func(t *testing.T) {
		n := mustMake(t, k)
		w, err := NewWaiter(n.Fd())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		mustSignal(t, n)
		if !readable(t, n.Fd()) {
			t.Fatal("notifier not readable after Signal, once its Waiter closed")
		}
		mustClear(t, n)
		if readable(t, n.Fd()) {
			t.Fatal("notifier readable after Clear, once its Waiter closed")
		}
	})
	t.Run("OutlivesNotifier", func(t *testing.T) {
		// The Waiter owns a duplicate, so closing the notifier leaves it
		// valid. With two fds the write end is gone: the read end is at
		// end of file, and Wait reports ErrHangup every time (no signal
		// can come any more). An eventfd just stays quiet.
		n, err := k.make()
		if err != nil {
			t.Fatal(err)
		}
		w := mustWaiter(t, n)
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if !k.hangupWakes {
			expectTimeout(t, w)
			return
		}
		for range 2 {
			if err := w.Wait(testContext(t)); !errors.Is(err, ErrHangup) {
				t.Fatalf("Wait after the write end closed: %v, want ErrHangup", err)
			}
		}
	})
	t.Run("DupFlags", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		if w.fd == n.Fd() {
			t.Fatalf("Waiter uses fd %d itself, not a duplicate", w.fd)
		}
		fl, err := unix.FcntlInt(uintptr(w.fd), unix.F_GETFD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if fl&unix.FD_CLOEXEC == 0 {
			t.Error("Waiter's duplicate is not close-on-exec")
		}
	})
	t.Run("PingPong", func(t *testing.T) { testPingPong(t, k) })
}

// testPingPong passes a counter back and forth between two goroutines, each
// sleeping on its own notifier, and checks every step arrives.
func testPingPong(t *testing.T, k kind) {
	const rounds = 10_000
	a, b := mustMake(t, k), mustMake(t, k)
	wa, wb := mustWaiter(t, a), mustWaiter(t, b)
	ctx := testContext(t)
	var turn atomic.Int64 // odd: b's turn; even: a's turn

	// await waits on w until turn reaches want; spurious wakeups re-check.
	await := func(w *Waiter, want int64) error {
		for turn.Load() != want {
			if err := w.Wait(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	errc := make(chan error, 2)
	go func() { // a
		for i := range int64(rounds) {
			turn.Store(2*i + 1)
			if err := b.Signal(); err != nil {
				errc <- err
				return
			}
			if err := await(wa, 2*i+2); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	go func() { // b
		for i := range int64(rounds) {
			if err := await(wb, 2*i+1); err != nil {
				errc <- err
				return
			}
			turn.Store(2*i + 2)
			if err := a.Signal(); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatalf("ping-pong stopped at turn %d: %v", turn.Load(), err)
		}
	}
	if got := turn.Load(); got != 2*rounds {
		t.Fatalf("ended at turn %d, want %d", got, 2*rounds)
	}
}

func BenchmarkWaitPending(b *testing.B) {
	for _, k := range kinds() {
		b.Run(k.name, func(b *testing.B) {
			n := mustMake(b, k)
			w := mustWaiter(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := n.Signal(); err != nil {
					b.Fatal(err)
				}
				if err := w.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
