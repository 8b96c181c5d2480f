package fdring_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fdring/fdring"
)

// Attacks on sleeping Puts and Gets (WithSpin(0): every wait sleeps on
// the fd, through the Waiter's one context registration).

// attackResult returns what ch delivers, or fails after sleepBound.
func attackResult[R any](t *testing.T, ch <-chan R) R {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(sleepBound):
		t.Fatal("a sleeping call did not return")
		var zero R
		return zero
	}
}

// TestAttack5SleepingCancelEveryPoint: a Get on an empty ring and a Put on
// a full one, each cancelled from another goroutine after a varying number
// of yields (before the sleep, while it arms, while it sleeps), on
// contexts that are kept for a few calls or new: the call must end with
// context.Canceled, never hang.
func TestAttack5SleepingCancelEveryPoint(t *testing.T) {
	tx, rx := newChan[uint64](t, 1, fdring.WithSpin(0))
	ftx, _ := newChan[uint64](t, 1, fdring.WithSpin(0))
	if err := ftx.Put(context.Background(), 1); err != nil { // full for good
		t.Fatal(err)
	}
	const rounds = 300
	keep, cancelKeep := context.WithCancel(context.Background())
	defer cancelKeep()
	for i := range rounds {
		// Sleep once on the long-lived context first (its registration
		// stays), on some rounds.
		if i%5 == 0 {
			base := rx.Stats().Waits
			ch := make(chan error, 1)
			go func() { _, err := rx.Get(keep); ch <- err }()
			if err := awaitSleep(func() uint64 { return rx.Stats().Waits }, base); err != nil {
				t.Fatal(err)
			}
			if err := tx.Put(keep, uint64(i)); err != nil {
				t.Fatal(err)
			}
			if err := attackResult(t, ch); err != nil {
				t.Fatalf("round %d: Get(keep): %v", i, err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		yields := i % 17
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range yields {
				runtime.Gosched()
			}
			cancel()
		}()
		get := make(chan error, 1)
		put := make(chan error, 1)
		go func() { _, err := rx.Get(ctx); get <- err }()
		go func() { put <- ftx.Put(ctx, 2) }()
		if err := attackResult(t, get); !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: Get: %v, want context.Canceled", i, err)
		}
		if err := attackResult(t, put); !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: Put: %v, want context.Canceled", i, err)
		}
		wg.Wait()
	}
	// The long-lived context's registration still ends a sleep on it.
	base := rx.Stats().Waits
	ch := make(chan error, 1)
	go func() { _, err := rx.Get(keep); ch <- err }()
	if err := awaitSleep(func() uint64 { return rx.Stats().Waits }, base); err != nil {
		t.Fatal(err)
	}
	cancelKeep()
	if err := attackResult(t, ch); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get(keep) when keep ended: %v", err)
	}
}

// TestAttack5SleepingAlternatingContexts: RecvWait alternates between two
// contexts on every call (each replaces the other's registration). The
// cancel of the one not in use must not end a sleep on the other, nor one
// on context.Background.
func TestAttack5SleepingAlternatingContexts(t *testing.T) {
	tx, rx := newChan[uint64](t, 4, fdring.WithSpin(0))
	a, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	b, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	sleepingRecv := func(ctx context.Context) <-chan error {
		t.Helper()
		base := rx.Stats().Waits
		ch := make(chan error, 1)
		go func() {
			_, err := rx.RecvWait(ctx, func(d []uint64) int { return len(d) })
			ch <- err
		}()
		if err := awaitSleep(func() uint64 { return rx.Stats().Waits }, base); err != nil {
			t.Fatal(err)
		}
		return ch
	}
	for i := range 50 {
		ctx := a
		if i%2 == 1 {
			ctx = b
		}
		ch := sleepingRecv(ctx)
		if err := tx.Put(context.Background(), uint64(i)); err != nil {
			t.Fatal(err)
		}
		if err := attackResult(t, ch); err != nil {
			t.Fatalf("RecvWait %d: %v", i, err)
		}
	}
	// b's registration is the Waiter's now; a Background sleep leaves it.
	ch := sleepingRecv(context.Background())
	cancelB()
	if err := tx.Put(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if err := attackResult(t, ch); err != nil {
		t.Fatalf("RecvWait(Background) after b's cancel: %v, want nil", err)
	}
	ch = sleepingRecv(a)
	cancelA()
	if err := attackResult(t, ch); !errors.Is(err, context.Canceled) {
		t.Fatalf("RecvWait(a) when a ended: %v, want context.Canceled", err)
	}
}

// TestAttack5SleepingPeerDeath: a Receiver accepted from a re-executed
// child sleeps on a long-lived context (whose registration the Waiter
// keeps), after a sleep on another context was cancelled; the child is
// killed: the Get must end with ErrPeerGone.
func TestAttack5SleepingPeerDeath(t *testing.T) {
	l := listen(t)
	cmd, out := child(t, "produce-then-wait", l.Path(), 0)
	rx := accept(t, l)
	line, err := out.ReadString('\n')
	if err != nil || line != fmt.Sprintf("committed %d\n", 0) {
		t.Fatalf("child said %q, %v", line, err)
	}
	sleepingGet := func(ctx context.Context) <-chan error {
		t.Helper()
		base := rx.Stats().Waits
		ch := make(chan error, 1)
		go func() { _, err := rx.Get(ctx); ch <- err }()
		if err := awaitSleep(func() uint64 { return rx.Stats().Waits }, base); err != nil {
			t.Fatal(err)
		}
		return ch
	}
	short, cancelShort := context.WithCancel(context.Background())
	ch := sleepingGet(short)
	cancelShort()
	if err := attackResult(t, ch); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get(short) when short ended: %v", err)
	}
	long := testCtx(t)
	ch = sleepingGet(long)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := attackResult(t, ch); !errors.Is(err, fdring.ErrPeerGone) {
		t.Fatalf("Get asleep when the producer died: %v, want ErrPeerGone", err)
	}
	if _, err := rx.Get(long); !errors.Is(err, fdring.ErrPeerGone) {
		t.Fatalf("Get after the producer died: %v, want ErrPeerGone", err)
	}
}

// TestAttack5SleepingCloseRacesCancel: Close of the Receiver and the
// cancel of the Get's context race a sleeping Get; it ends with one of
// their errors, and the ring's next Get says ErrClosed.
func TestAttack5SleepingCloseRacesCancel(t *testing.T) {
	for i := range 100 {
		tx, rx, err := fdring.New[uint64](4, fdring.WithSpin(0))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		base := rx.Stats().Waits
		ch := make(chan error, 1)
		go func() { _, err := rx.Get(ctx); ch <- err }()
		if i%2 == 0 {
			if err := awaitSleep(func() uint64 { return rx.Stats().Waits }, base); err != nil {
				t.Fatal(err)
			}
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); <-start; cancel() }()
		go func() { defer wg.Done(); <-start; rx.Close() }()
		close(start)
		if err := attackResult(t, ch); !errors.Is(err, context.Canceled) && !errors.Is(err, fdring.ErrClosed) {
			t.Fatalf("round %d: Get: %v", i, err)
		}
		wg.Wait()
		if _, err := rx.Get(context.Background()); !errors.Is(err, fdring.ErrClosed) {
			t.Fatalf("round %d: Get after Close: %v", i, err)
		}
		tx.Close()
	}
}
