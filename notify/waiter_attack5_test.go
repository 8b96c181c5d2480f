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

// Attacks on the Waiter's one context registration: cancels at every
// point, contexts that misbehave, Close and Interrupt racing all of it.

// eventKind is the kind these attacks use: New (an eventfd on Linux).
func eventKind(t *testing.T) kind {
	t.Helper()
	for _, k := range kinds() {
		if k.name == "New" {
			return k
		}
	}
	t.Fatal("no New kind")
	return kind{}
}

// shiftingDeadline is a context whose Deadline reports a time already
// past on its first call and one far ahead on every later call (a buggy or
// hostile implementation, or one whose deadline is moved while a call is
// blocked). With lying set, it reports that past time with ok false (no
// deadline) on every call instead. It is never cancelled.
type shiftingDeadline struct {
	context.Context // Background
	calls           atomic.Int64
	past, future    time.Time
	lying           bool
}

func (s *shiftingDeadline) Deadline() (time.Time, bool) {
	if s.lying {
		s.calls.Add(1)
		return s.past, false
	}
	if s.calls.Add(1) == 1 {
		return s.past, true
	}
	return s.future, true
}

// TestAttack5ShiftingDeadlineNoBusyLoop: a Wait on a context whose
// Deadline changes between calls, or reports a time with ok false, must
// not spin: it either ends (the deadline it armed passed) or sleeps.
// Before the fix the Wait armed the past deadline, woke at once, asked
// Deadline again (far ahead, or none: "not ctx's deadline"), re-armed the
// same past deadline and woke again, forever, burning a CPU without ever
// parking (Close ended it).
func TestAttack5ShiftingDeadlineNoBusyLoop(t *testing.T) {
	for _, lying := range []bool{false, true} {
		name := "Shifting"
		if lying {
			name = "TimeWithoutOk"
		}
		t.Run(name, func(t *testing.T) { testShiftingDeadline(t, lying) })
	}
}

func testShiftingDeadline(t *testing.T, lying bool) {
	n := mustMake(t, eventKind(t))
	w := mustWaiter(t, n)
	now := time.Now()
	ctx := &shiftingDeadline{Context: context.Background(), past: now.Add(-time.Hour), future: now.Add(time.Hour), lying: lying}
	base := w.blocked.Load()
	_, res := waitAsync(w, ctx)
	end := time.Now().Add(testTimeout)
	for i := 0; ; i++ {
		select {
		case err := <-res:
			if lying {
				t.Fatalf("Wait on a context without a deadline returned %v before any signal", err)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait on a deadline already past: %v, want context.DeadlineExceeded", err)
			}
			return
		default:
		}
		if w.blocked.Load() > base {
			break // it sleeps: no busy loop either
		}
		if c := ctx.calls.Load(); c > 1000 {
			w.Close() // ends the loop
			<-res
			t.Fatalf("Wait called Deadline %d times without sleeping or returning: a busy loop", c)
		}
		if i%64 == 0 && time.Now().After(end) {
			t.Fatal("Wait neither returned nor slept")
		}
		runtime.Gosched()
	}
	mustSignal(t, n)
	if err := result(t, res); err != nil {
		t.Fatalf("Wait after a signal: %v", err)
	}
}

// freshDone is a context whose Done returns a new channel on every call;
// with closed set, each one comes closed, yet Err stays nil (a broken
// implementation).
type freshDone struct {
	context.Context
	closed bool
	calls  atomic.Int64
}

func (f *freshDone) Done() <-chan struct{} {
	f.calls.Add(1)
	ch := make(chan struct{})
	if f.closed {
		close(ch)
	}
	return ch
}

// brokenDone is a context whose Done channel is closed while Err still
// reports nil.
type brokenDone struct {
	context.Context
	done chan struct{}
}

func (b *brokenDone) Done() <-chan struct{} { return b.done }

// nilThenDone reports no Done channel on its first Done call, then one
// that cancel closes.
type nilThenDone struct {
	context.Context
	calls atomic.Int64
	done  chan struct{}
	err   atomic.Pointer[error]
}

func (c *nilThenDone) Done() <-chan struct{} {
	if c.calls.Add(1) == 1 {
		return nil
	}
	return c.done
}

func (c *nilThenDone) Err() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *nilThenDone) cancel() {
	err := context.Canceled
	c.err.Store(&err)
	close(c.done)
}

// TestAttack5HostileContexts: contexts that break the context.Context
// contract must not make a Wait panic, spin, hang past a signal, or pile
// up registrations (goroutines).
func TestAttack5HostileContexts(t *testing.T) {
	k := eventKind(t)
	const waits = 200
	for _, closed := range []bool{false, true} {
		name := "FreshDoneOpen"
		if closed {
			name = "FreshDoneClosed"
		}
		t.Run(name, func(t *testing.T) {
			n := mustMake(t, k)
			w := mustWaiter(t, n)
			ctx := &freshDone{Context: context.Background(), closed: closed}
			before := runtime.NumGoroutine()
			for i := range waits {
				mustSignal(t, n)
				if err := w.Wait(ctx); err != nil {
					t.Fatalf("Wait %d with a signal pending: %v", i, err)
				}
			}
			// One sleeping Wait too: it must park and end on a signal.
			base := w.blocked.Load()
			_, res := waitAsync(w, ctx)
			mustBlock(t, w, base)
			mustSignal(t, n)
			if err := result(t, res); err != nil {
				t.Fatalf("sleeping Wait after a signal: %v", err)
			}
			w.Close()
			// Registrations are stopped; their watcher goroutines end.
			end := time.Now().Add(testTimeout)
			for i := 0; runtime.NumGoroutine() > before+5; i++ {
				if i%64 == 0 && time.Now().After(end) {
					t.Fatalf("%d goroutines before %d Waits, %d after Close", before, waits, runtime.NumGoroutine())
				}
				runtime.Gosched()
			}
		})
	}
	t.Run("DoneClosedErrNil", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		done := make(chan struct{})
		ctx := &brokenDone{Context: context.Background(), done: done}
		base := w.blocked.Load()
		_, res := waitAsync(w, ctx)
		mustBlock(t, w, base)
		close(done) // the callback runs; Err says nil: the Wait sleeps on
		base = w.blocked.Load()
		for range 3 { // it parks again (no busy loop) and a signal ends it
			mustSignal(t, n)
			if err := result(t, res); err != nil {
				t.Fatalf("Wait after a signal: %v", err)
			}
			_, res = waitAsync(w, ctx)
			mustBlock(t, w, base)
			base = w.blocked.Load()
		}
		w.Close()
		if err := result(t, res); !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait after Close: %v, want ErrClosed", err)
		}
	})
	t.Run("NilThenDone", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		ctx := &nilThenDone{Context: context.Background(), done: make(chan struct{})}
		// First Wait: Done said nil (cannot end): it ends on a signal.
		mustSignal(t, n)
		if err := w.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		base := w.blocked.Load()
		_, res := waitAsync(w, ctx)
		mustBlock(t, w, base)
		ctx.cancel()
		if err := result(t, res); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait when its context ended: %v, want context.Canceled", err)
		}
	})
}

// TestAttack5DerivedContexts: a WithValue child shares its parent's Done
// (reuse is right: they end together); a WithoutCancel child never ends;
// deadlines report DeadlineExceeded.
func TestAttack5DerivedContexts(t *testing.T) {
	k := eventKind(t)
	t.Run("WithValueOfCancelled", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		parent, cancel := context.WithCancel(context.Background())
		mustSignal(t, n)
		if err := w.Wait(parent); err != nil {
			t.Fatal(err)
		}
		child := context.WithValue(parent, attackKey{}, 1)
		base := w.blocked.Load()
		_, res := waitAsync(w, child) // reuses the parent's registration
		mustBlock(t, w, base)
		cancel()
		if err := result(t, res); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait on a WithValue child when the parent ended: %v", err)
		}
		mustSignal(t, n)
		if err := w.Wait(child); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait on a cancelled WithValue child: %v", err)
		}
	})
	t.Run("WithoutCancelOfCancelled", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		parent, cancel := context.WithCancel(context.Background())
		mustSignal(t, n)
		if err := w.Wait(parent); err != nil {
			t.Fatal(err)
		}
		base := w.blocked.Load()
		_, res := waitAsync(w, context.WithoutCancel(parent))
		mustBlock(t, w, base)
		cancel() // the registration on parent fires: it must not end this Wait
		// A Wait wrongly ended would report Canceled or re-sleep; the
		// callback runs in its own goroutine, so give it its chance by
		// expiring the registration deterministically as well.
		w.mu.Lock()
		id := w.regID
		w.mu.Unlock()
		if w.expire(id) {
			t.Fatal("the parent's registration acted on a Wait on a WithoutCancel child")
		}
		mustSignal(t, n)
		if err := result(t, res); err != nil {
			t.Fatalf("Wait on a WithoutCancel child: %v, want nil after a signal", err)
		}
	})
	t.Run("Deadlines", func(t *testing.T) {
		n := mustMake(t, k)
		w := mustWaiter(t, n)
		past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		if err := w.Wait(past); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait on a deadline already past: %v", err)
		}
		short, cancel2 := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel2()
		if err := result(t, func() <-chan error { _, r := waitAsync(w, short); return r }()); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait whose deadline passed while asleep: %v", err)
		}
		// An explicit cancel before the deadline: Canceled.
		long, cancel3 := context.WithTimeout(context.Background(), time.Hour)
		base := w.blocked.Load()
		_, res := waitAsync(w, long)
		mustBlock(t, w, base)
		cancel3()
		if err := result(t, res); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait on a cancelled timeout context: %v, want Canceled", err)
		}
	})
}

// TestAttack5CancelEveryPoint: a cancel from another goroutine after a
// varying number of yields, so that it lands before the Wait, between its
// checks, during the read, or with an Interrupt racing it. A Wait may end
// with ErrInterrupted (when one was sent); then the next Wait on the same
// context must still see the cancel. No signal is ever sent: only the
// cancel can end these Waits.
func TestAttack5CancelEveryPoint(t *testing.T) {
	n := mustMake(t, eventKind(t))
	w := mustWaiter(t, n)
	const rounds = 600
	var ctx context.Context
	var cancel context.CancelFunc
	for i := range rounds {
		if i%3 == 0 || ctx.Err() != nil { // reuse a registration on some rounds
			if cancel != nil {
				cancel()
			}
			ctx, cancel = context.WithCancel(context.Background())
		}
		var wg sync.WaitGroup
		wg.Add(1)
		interrupt := i%4 == 1
		yields := i % 23
		go func(cancel context.CancelFunc) {
			defer wg.Done()
			for range yields {
				runtime.Gosched()
			}
			if interrupt {
				w.Interrupt()
			}
			cancel()
		}(cancel)
		for tries := 0; ; tries++ {
			if tries > 3 {
				t.Fatalf("round %d: Wait did not report the cancel", i)
			}
			_, res := waitAsync(w, ctx)
			err := result(t, res)
			if errors.Is(err, context.Canceled) {
				break
			}
			if !errors.Is(err, ErrInterrupted) || !interrupt {
				t.Fatalf("round %d: Wait: %v, want context.Canceled", i, err)
			}
		}
		wg.Wait()
		// A pending Interrupt that no Wait consumed must not leak into
		// the next round's expectations.
		w.intr.Store(false)
	}
	cancel()
}

// TestAttack5ManyWaitersOneContext: hundreds of Waiters register on one
// context. Closing one, or moving one to another context, leaves the
// others' registrations in place; the cancel ends every Wait on it and
// none on the other context.
func TestAttack5ManyWaitersOneContext(t *testing.T) {
	k := eventKind(t)
	const count = 300
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	other, cancelOther := context.WithCancel(context.Background())
	defer cancelOther()
	ns := make([]Notifier, count)
	ws := make([]*Waiter, count)
	res := make([]<-chan error, count)
	for i := range count {
		ns[i] = mustMake(t, k)
		ws[i] = mustWaiter(t, ns[i])
		base := ws[i].blocked.Load()
		_, res[i] = waitAsync(ws[i], ctx)
		mustBlock(t, ws[i], base)
	}
	// Waiter 0 closes; waiter 1 wakes and moves to the other context.
	ws[0].Close()
	if err := result(t, res[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait on a closed Waiter: %v", err)
	}
	mustSignal(t, ns[1])
	if err := result(t, res[1]); err != nil {
		t.Fatal(err)
	}
	base := ws[1].blocked.Load()
	_, res[1] = waitAsync(ws[1], other)
	mustBlock(t, ws[1], base)
	cancel()
	for i := 2; i < count; i++ {
		if err := result(t, res[i]); !errors.Is(err, context.Canceled) {
			t.Fatalf("Waiter %d on the shared context: %v, want Canceled", i, err)
		}
	}
	mustSignal(t, ns[1])
	if err := result(t, res[1]); err != nil {
		t.Fatalf("Wait on the other context after the shared one ended: %v, want nil", err)
	}
}

// TestAttack5CloseRaces: Close racing a sleeping Wait, its context's
// cancel and an Interrupt, in every order the scheduler gives; then Wait
// after Close and a double Close.
func TestAttack5CloseRaces(t *testing.T) {
	k := eventKind(t)
	const rounds = 200
	for i := range rounds {
		n := mustMake(t, k)
		w, err := NewWaiter(n.Fd())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		_, res := waitAsync(w, ctx)
		var wg sync.WaitGroup
		wg.Add(3)
		start := make(chan struct{})
		go func() { defer wg.Done(); <-start; cancel() }()
		go func() { defer wg.Done(); <-start; w.Interrupt() }()
		go func() { defer wg.Done(); <-start; w.Close() }()
		for range i % 7 {
			runtime.Gosched()
		}
		close(start)
		err = result(t, res)
		if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrInterrupted) && !errors.Is(err, ErrClosed) {
			t.Fatalf("round %d: Wait: %v", i, err)
		}
		wg.Wait()
		if err := w.Wait(context.Background()); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrInterrupted) {
			t.Fatalf("round %d: Wait after Close: %v, want ErrClosed", i, err)
		}
		if err := w.Wait(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("round %d: second Wait after Close: %v, want ErrClosed", i, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("round %d: second Close: %v", i, err)
		}
		w.mu.Lock()
		held := w.regStop != nil
		w.mu.Unlock()
		if held {
			t.Fatalf("round %d: a closed Waiter still holds a registration", i)
		}
	}
}

// attackKey is a context value key.
type attackKey struct{}

// TestAttack5AlternatingContextsBounded: Waits that alternate between two
// contexts on every call replace the registration each time: at most one
// is live at any moment, over both contexts, and each context's cancel
// ends only a Wait on it.
func TestAttack5AlternatingContextsBounded(t *testing.T) {
	n := mustMake(t, eventKind(t))
	w := mustWaiter(t, n)
	m1, m2 := newManualCtx(), newManualCtx()
	const waits = 200
	for i := range waits {
		ctx := m1
		if i%2 == 1 {
			ctx = m2
		}
		mustSignal(t, n)
		if err := w.Wait(ctx); err != nil {
			t.Fatalf("Wait %d: %v", i, err)
		}
		l1, _ := m1.live()
		l2, _ := m2.live()
		if l1+l2 != 1 {
			t.Fatalf("after Wait %d: %d live registrations on m1, %d on m2; want one in all", i, l1, l2)
		}
	}
	// The last Wait was on m2: a sleeping Wait on m1 re-registers; m2's
	// cancel leaves it asleep, m1's ends it.
	base := w.blocked.Load()
	_, res := waitAsync(w, m1)
	mustBlock(t, w, base)
	m2.cancel()
	select {
	case err := <-res:
		t.Fatalf("m2's cancel ended a Wait on m1: %v", err)
	default:
	}
	m1.cancel()
	if err := result(t, res); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on m1 when m1 ended: %v", err)
	}
	w.Close()
	if l, _ := m1.live(); l != 0 {
		t.Fatalf("%d registrations live on m1 after Close", l)
	}
}
