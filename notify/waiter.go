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
type Waiter struct {
	f    *os.File
	rc   syscall.RawConn
	fd   int // the duplicate, for diagnostics only
	intr atomic.Bool
	// kind says how to read the fd; see drainCount.
	kind fdKind
	// closed is set by Close before it closes f, so that the poller's
	// "use of closed file" (not os.ErrClosed) is reported as ErrClosed.
	closed atomic.Bool

	mu  sync.Mutex // guards the deadline against a late context callback
	gen uint64     // incremented by every Wait; stale callbacks see a newer gen
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
	return &Waiter{f: f, rc: rc, fd: dup, kind: kindOf(dup)}, nil
}

// Wait blocks until the fd is signalled and consumes the signal. It returns
// nil after a signal, ctx.Err() when ctx ends first, ErrInterrupted after
// Interrupt (which it consumes), ErrClosed after Close, and an error
// wrapping ErrHangup when the fd reports end of file (the peer is gone). A wait may end
// spuriously with nil; callers re-check their condition.
func (w *Waiter) Wait(ctx context.Context) error {
	if w.intr.Swap(false) {
		return ErrInterrupted
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	w.gen++
	gen := w.gen
	deadline, _ := ctx.Deadline()
	err := w.f.SetReadDeadline(deadline)
	w.mu.Unlock()
	if err != nil {
		return w.fileErr(err)
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { w.expire(gen) })
		defer stop()
	}
	for {
		var rerr error
		err := w.rc.Read(func(fd uintptr) bool {
			var got bool
			got, rerr = drainCount(int(fd), w.kind)
			return got || rerr != nil || w.intr.Load()
		})
		switch {
		case w.intr.Swap(false):
			return ErrInterrupted
		case err == nil && rerr != nil:
			return fmt.Errorf("notify: wait: read: %w", rerr)
		case err == nil:
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
				return context.DeadlineExceeded
			}
			// A stale expiry from an earlier Wait's context: re-arm.
			w.mu.Lock()
			err = w.f.SetReadDeadline(deadline)
			w.mu.Unlock()
			if err != nil {
				return w.fileErr(err)
			}
		default:
			return w.fileErr(err)
		}
	}
}

// expire ends the Wait of generation gen, if it is still the current one,
// by moving the read deadline into the past (the context's end reaches the
// runtime poller this way).
func (w *Waiter) expire(gen uint64) {
	w.mu.Lock()
	if w.gen == gen {
		w.f.SetReadDeadline(time.Unix(1, 0))
	}
	w.mu.Unlock()
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
