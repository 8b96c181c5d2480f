package notify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Waiter blocks a goroutine until a notifier's fd is signalled, through Go's
// runtime poller (the goroutine parks; no OS thread is held). It works on a
// duplicate of the fd, so its lifetime is independent of the notifier's.
//
// One goroutine at a time may Wait; Interrupt and Close are safe from any
// goroutine.
//
// Contexts and allocation. A context ends a Wait through the read
// deadline: a callback registered with context.AfterFunc moves it into the
// past. A Wait that sleeps allocates nothing in steady state: the Waiter
// keeps one registration and reuses it for as long as Waits come with the
// same context (a stream with one context for its life), and replaces it
// when another cancellable context comes; a Wait whose context can never
// end (context.Background) uses none and leaves it in place. The read
// callback that rc.Read calls is built once, in NewWaiter, and leaves its
// results in the Waiter.
//
// The invariant, all under mu: the registration's callback acts (moves the
// deadline into the past) only when the Waiter is not closed and a Wait is
// in progress that uses this very registration (armed == its id). A Wait
// marks itself armed, then checks ctx.Err() again under mu, so a cancel
// that lands before the mark is seen by that check, and one after it finds
// the mark: none is lost, and none ends a Wait on another context. Close
// stops the registration under mu, so a context that outlives the Waiter
// neither keeps it reachable nor acts on it later.
//
// Lock order: mu, then the context's own locks (context.AfterFunc and the
// stop it returns are called under mu); the callback runs in a goroutine
// of its own and takes mu holding nothing.
type Waiter struct {
	f    *os.File
	rc   syscall.RawConn
	fd   int // the duplicate, for diagnostics only
	intr atomic.Bool
	// kind says how to read the fd; see drainCount.
	kind fdKind
	// closed is set by Close before it takes mu and closes f: the
	// poller's "use of closed file" (not os.ErrClosed) is reported as
	// ErrClosed, and arm, rearm and expire, under mu, see a Close that
	// has begun (Close then stops the registration under mu).
	closed atomic.Bool

	// read is w.drain, made once: the callback of every rc.Read. Its
	// result is left in rerr (the Wait's goroutine only).
	read func(fd uintptr) bool
	rerr error
	// blocked counts the reads that found nothing and let the goroutine
	// park (for tests: proof that a Wait slept).
	blocked atomic.Uint64

	mu      sync.Mutex      // guards the fields below and every deadline move
	regDone <-chan struct{} // the Done channel the registration watches (nil: none)
	regStop func() bool     // stops the registration
	regID   uint64          // the current registration's id; ids start at 1
	armed   uint64          // the registration the Wait in progress uses (0: none, or no Wait)
}

// NewWaiter returns a Waiter for fd. fd stays the caller's; the Waiter owns
// a duplicate (close-on-exec, non-blocking).
func NewWaiter(fd int) (*Waiter, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("notify: waiter: dup fd %d: %w", fd, err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, fmt.Errorf("notify: waiter: set non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(dup), "fdring-wakeup")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("notify: waiter: %w", err)
	}
	w := &Waiter{f: f, rc: rc, fd: dup, kind: kindOf(dup)}
	w.read = w.drain
	return w, nil
}

// Wait blocks until the fd is signalled and consumes the signal. It returns
// nil after a signal, ctx.Err() when ctx ends first, ErrInterrupted after
// Interrupt (which it consumes), ErrClosed after Close, and an error
// wrapping ErrHangup when the fd reports end of file (the peer is gone). A wait may end
// spuriously with nil; callers re-check their condition.
//
// The Waiter keeps a registration on the last cancellable ctx it was given
// (see Waiter) until another one comes or Close: Close a Waiter that is no
// longer used.
func (w *Waiter) Wait(ctx context.Context) error {
	if w.intr.Swap(false) {
		return ErrInterrupted
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The deadline is read once: the one armed is the one an expiry is
	// judged by. A context whose Deadline moves between calls, or reports
	// a time with ok false, would otherwise have each expiry of the armed
	// deadline taken for a stale one and re-armed at once: a busy loop.
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Time{}
	}
	if err := w.arm(ctx, deadline); err != nil {
		return err
	}
	defer w.disarm()
	for {
		err := w.rc.Read(w.read)
		switch {
		case w.intr.Swap(false):
			return ErrInterrupted
		case err == nil && w.rerr != nil:
			return fmt.Errorf("notify: wait: read: %w", w.rerr)
		case err == nil:
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			if ok && !time.Now().Before(deadline) {
				if cerr := ctx.Err(); cerr != nil {
					return cerr
				}
				return context.DeadlineExceeded
			}
			// The context's end, or a stale expiry (an Interrupt that an
			// earlier Wait consumed): rearm returns ctx's error or
			// re-arms the deadline.
			if err := w.rearm(ctx, deadline); err != nil {
				return err
			}
		default:
			return w.fileErr(err)
		}
	}
}

// drain is the callback of rc.Read (w.read): it consumes the signals on
// fd and reports whether the read is done (something came, an error, or
// an Interrupt); false lets the goroutine park until fd is readable.
func (w *Waiter) drain(fd uintptr) bool {
	got, err := drainCount(int(fd), w.kind)
	w.rerr = err
	if got || err != nil || w.intr.Load() {
		return true
	}
	w.blocked.Add(1)
	return false
}

// arm prepares a Wait on ctx: it sets the read deadline to ctx's, makes
// sure the registration watches ctx (when ctx can end), marks the Wait in
// progress, and checks ctx once more under mu (see Waiter).
func (w *Waiter) arm(ctx context.Context, deadline time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed.Load() {
		return ErrClosed
	}
	if err := w.f.SetReadDeadline(deadline); err != nil {
		return w.fileErr(err)
	}
	if done := ctx.Done(); done != nil {
		if done != w.regDone {
			w.register(ctx, done)
		}
		w.armed = w.regID
	}
	if err := ctx.Err(); err != nil {
		w.armed = 0
		return err
	}
	return nil
}

// register replaces the registration with one on ctx, whose Done channel
// is done. Contexts are told apart by their Done channels: two with the
// same one end together (a context and its WithValue child), and channels
// always compare, where some context values do not. Caller holds mu.
func (w *Waiter) register(ctx context.Context, done <-chan struct{}) {
	if w.regStop != nil {
		w.regStop()
	}
	w.regID++
	id := w.regID
	w.regDone = done
	// AfterFunc runs the callback in its own goroutine (also at once, when
	// ctx is done already), never under mu.
	w.regStop = context.AfterFunc(watched(ctx), func() { w.expire(id) })
}

// regCtx is ctx as the registration watches it: the same Done, Value and
// Deadline (so context.AfterFunc still hooks straight into a context of
// package context, without a goroutine), with an Err that is never nil
// once asked. context.AfterFunc cancels its own child with the watched
// context's Err when Done closes, and panics when that is nil, in a
// goroutine of its own for most context types: a context that breaks its
// contract (Done closed, Err nil) would crash the process through a
// Waiter. Its callback then runs, finds ctx.Err() nil in the Wait, and
// the Wait sleeps on.
type regCtx struct{ context.Context }

// Err is ctx's error, or context.Canceled when ctx reports none (only
// asked once Done is closed).
func (c regCtx) Err() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	return context.Canceled
}

// afterFuncer is a context with its own AfterFunc, which context.AfterFunc
// uses (see package context).
type afterFuncer interface {
	AfterFunc(func()) func() bool
}

// regAfterFuncCtx is regCtx for a context that has its own AfterFunc: it
// keeps that method visible to context.AfterFunc.
type regAfterFuncCtx struct {
	regCtx
	af afterFuncer
}

// AfterFunc is the watched context's own.
func (c regAfterFuncCtx) AfterFunc(f func()) func() bool { return c.af.AfterFunc(f) }

// watched wraps ctx for context.AfterFunc (see regCtx). It allocates, once
// per registration.
func watched(ctx context.Context) context.Context {
	if af, ok := ctx.(afterFuncer); ok {
		return regAfterFuncCtx{regCtx{ctx}, af}
	}
	return regCtx{ctx}
}

// rearm is arm for a Wait whose read ended at a deadline that was not
// ctx's: ctx's error if it ended, else the deadline is set to ctx's again.
// Under mu, so a callback that comes after the check finds the deadline
// set and moves it again.
func (w *Waiter) rearm(ctx context.Context, deadline time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.closed.Load() {
		return ErrClosed
	}
	if err := w.f.SetReadDeadline(deadline); err != nil {
		return w.fileErr(err)
	}
	return nil
}

// disarm ends the Wait in progress: the registration's callback no longer
// acts on the Waiter.
func (w *Waiter) disarm() {
	w.mu.Lock()
	w.armed = 0
	w.mu.Unlock()
}

// expire is the callback of registration id: it ends the Wait in progress
// that uses it, by moving the read deadline into the past (a context's end
// reaches the runtime poller this way), and reports whether it did. A
// registration that was replaced, a Waiter that is between Waits or
// closed: nothing to do.
func (w *Waiter) expire(id uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed.Load() || id == 0 || w.armed != id {
		return false
	}
	w.f.SetReadDeadline(time.Unix(1, 0))
	return true
}

// Interrupt makes the current Wait, or the next one if none is in progress,
// return ErrInterrupted.
func (w *Waiter) Interrupt() {
	w.intr.Store(true)
	w.mu.Lock()
	w.f.SetReadDeadline(time.Unix(1, 0))
	w.mu.Unlock()
}

// Close releases the duplicate fd; a Wait in progress returns ErrClosed.
// Idempotent.
func (w *Waiter) Close() error {
	w.closed.Store(true)
	w.mu.Lock()
	if w.regStop != nil {
		w.regStop()
		w.regStop, w.regDone = nil, nil
	}
	w.mu.Unlock()
	if err := w.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("notify: waiter: close: %w", err)
	}
	return nil
}

func (w *Waiter) fileErr(err error) error {
	if w.closed.Load() || errors.Is(err, os.ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("notify: wait: %w", err)
}
