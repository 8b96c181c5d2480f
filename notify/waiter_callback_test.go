package notify

import (
	"context"
	"sync"
	"testing"
	"time"
)

// within fails the test unless ch delivers within testTimeout.
func within[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatalf("%s did not happen", what)
	}
}

// Contexts with their own AfterFunc method (which context.AfterFunc uses)
// whose stop breaks its contract by waiting for a running callback: the
// Waiter calls stop with its lock held, and must not deadlock, in a Wait
// or a Close. It does not, because package context stands between: the
// stop it returns marks the registration done before it calls ours, so
// the Waiter's callback never runs afterwards, and the callback ours
// waits for takes none of the Waiter's locks. (A context whose AfterFunc
// runs the callback before returning deadlocks inside package context
// itself, whatever the caller holds.)

// gatedCtx runs each AfterFunc callback, once cancelled, in a goroutine
// that waits for proceed first; its stop waits until a callback that has
// started returns (the contract says stop does not wait), and says on
// stopping that it was called.
type gatedCtx struct {
	context.Context // Background
	done            chan struct{}
	started         chan struct{} // one receive per callback that started
	proceed         chan struct{}
	stopping        chan struct{} // closed by the first stop call

	mu       sync.Mutex
	fs       []func()
	finished chan struct{} // closed when the callbacks returned
	stopOnce sync.Once
}

func newGatedCtx() *gatedCtx {
	return &gatedCtx{Context: context.Background(), done: make(chan struct{}), started: make(chan struct{}, 1),
		proceed: make(chan struct{}), stopping: make(chan struct{}), finished: make(chan struct{})}
}

func (g *gatedCtx) Done() <-chan struct{} { return g.done }

func (g *gatedCtx) Err() error {
	select {
	case <-g.done:
		return context.Canceled
	default:
		return nil
	}
}

func (g *gatedCtx) AfterFunc(f func()) func() bool {
	g.mu.Lock()
	g.fs = append(g.fs, f)
	g.mu.Unlock()
	return func() bool {
		g.stopOnce.Do(func() { close(g.stopping) })
		<-g.finished // waits for the callbacks that run
		return false
	}
}

func (g *gatedCtx) cancel() {
	close(g.done)
	g.mu.Lock()
	fs := g.fs
	g.mu.Unlock()
	go func() {
		g.started <- struct{}{}
		<-g.proceed
		for _, f := range fs {
			f()
		}
		close(g.finished)
	}()
}

// cancelledRegistration returns a Waiter (and its notifier) that holds a
// registration on a gatedCtx, cancelled, whose callback has started and
// waits for proceed.
func cancelledRegistration(t *testing.T) (Notifier, *Waiter, *gatedCtx) {
	n := mustMake(t, eventKind(t))
	w := mustWaiter(t, n)
	a := newGatedCtx()
	_, res := waitAsync(w, a)
	mustSignal(t, n)
	if err := result(t, res); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	a.cancel()
	within(t, a.started, "the callback's start")
	return n, w, a
}

// TestWaiterStopWaitsForCallback: a Wait on another context replaces the
// registration on a cancelled context whose stop waits for its running
// callback; the Waiter calls that stop with its lock held, and the Wait
// must still go on (see the top of this file for why it does).
func TestWaiterStopWaitsForCallback(t *testing.T) {
	n, w, a := cancelledRegistration(t)
	b, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	_, res := waitAsync(w, b) // replaces the registration: stops a's
	within(t, a.stopping, "the registration's stop")
	close(a.proceed) // the callback runs now
	mustSignal(t, n)
	if err := result(t, res); err != nil {
		t.Fatalf("Wait on a new context after stopping a registration whose stop waits: %v", err)
	}
}

// TestWaiterCloseStopWaitsForCallback: the same stop, called by Close.
func TestWaiterCloseStopWaitsForCallback(t *testing.T) {
	_, w, a := cancelledRegistration(t)
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	within(t, a.stopping, "the registration's stop")
	close(a.proceed)
	if err := result(t, closed); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
