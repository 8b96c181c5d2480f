package fdnet

import (
	"context"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// deadline is one direction's deadline, in the shape fdring's blocking
// calls understand: a context. Read and Write pass the current context to
// RecvWait and SendWait (or Wait); it is cancelled when the deadline passes
// (cause os.ErrDeadlineExceeded) or the Conn closes (cause net.ErrClosed),
// which wakes the call at once.
//
// Moving the deadline while a call is blocked:
//
//   - into the future, or clearing it, before it passed: only the timer
//     moves; the blocked call keeps waiting on the same context;
//   - into the past: the context is cancelled now;
//   - after it passed: the cancelled context is replaced by a fresh one.
//     A call that was woken by the old one re-reads the context before it
//     gives up, so it keeps waiting under the new deadline, as a blocked
//     call on a *net.TCPConn does.
//
// One timer per direction, made on first use and reset afterwards; the
// timer callback checks the deadline under the lock, so a callback that
// lost a race with Reset or Stop does nothing. No goroutine per call.
//
// Concurrency: context is lock-free (one atomic load: the fast path of
// Read and Write); set, expire and close serialize on mu, a leaf lock.
type deadline struct {
	cur atomic.Pointer[deadlineCtx]

	mu     sync.Mutex
	at     time.Time // zero: none
	timer  *time.Timer
	closed bool
}

type deadlineCtx struct {
	context.Context
	cancel context.CancelCauseFunc
}

func newDeadlineCtx() *deadlineCtx {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &deadlineCtx{ctx, cancel}
}

func (d *deadline) init() { d.cur.Store(newDeadlineCtx()) }

// context returns the context a call of this direction waits on. It is
// done once the deadline passed or the Conn closed; context.Cause says
// which.
func (d *deadline) context() context.Context { return d.cur.Load() }

// set moves the deadline to t (zero: none).
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.at = t
	if d.timer != nil {
		d.timer.Stop()
	}
	if t.IsZero() {
		d.renew()
		return
	}
	left := time.Until(t)
	if left <= 0 {
		d.cur.Load().cancel(os.ErrDeadlineExceeded)
		return
	}
	d.renew()
	if d.timer == nil {
		d.timer = time.AfterFunc(left, d.expire)
	} else {
		d.timer.Reset(left)
	}
}

// renew replaces a context the deadline already cancelled. Caller holds mu.
func (d *deadline) renew() {
	if d.cur.Load().Err() != nil {
		d.cur.Store(newDeadlineCtx())
	}
}

// expire is the timer callback.
func (d *deadline) expire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.at.IsZero() {
		return // cleared or closed after the timer fired
	}
	if left := time.Until(d.at); left > 0 {
		// Moved later after the timer fired, or the wall clock (a
		// deadline without a monotonic reading) stepped back: wait on.
		d.timer.Reset(left)
		return
	}
	d.cur.Load().cancel(os.ErrDeadlineExceeded)
}

// close cancels the context for good and stops the timer.
func (d *deadline) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.timer != nil {
		d.timer.Stop()
	}
	cur := d.cur.Load()
	if cur.Err() != nil {
		// Expired: a fresh context, so that the cause says closed.
		cur = newDeadlineCtx()
		d.cur.Store(cur)
	}
	cur.cancel(net.ErrClosed)
}
