package fdring

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/fdring/fdring/notify"
	"github.com/fdring/fdring/ring"
	"github.com/fdring/fdring/shm"
)

// channel is what the two sides of one ring share in this process: the ring,
// the two notifiers and the resources to release when the last local side
// is closed. In-process both sides hold a reference; across processes each
// process has its own channel with one.
type channel[T any] struct {
	ring  *ring.Ring[T]
	data  notify.Notifier // sender signals, receiver waits
	space notify.Notifier // receiver signals, sender waits
	spin  time.Duration

	refs       atomic.Int32
	gone       atomic.Bool // the peer process died (liveness watch or a hangup on the wakeup socket)
	peerClosed func() bool // the peer closed its side cleanly (then its hangup is no death)
	peerGone   func()      // tells the ring the peer is gone (the producer's Send stops)
	wakeAll    func()      // wakes local waits, the watching loop and pollers of the fd, to re-check
	shutdown   func()      // stops whatever may still signal the notifiers

	// Across processes: the mapping (retired by the owner's first call
	// after Close, see side).
	region *shm.Region
}

// retire lets go of the shared pages (see side). Idempotent.
func (c *channel[T]) retire() {
	if c.region != nil {
		c.region.Retire()
	}
}

func (c *channel[T]) closeNotifiers() error {
	err := c.data.Close()
	if c.space != c.data {
		err = errors.Join(err, c.space.Close())
	}
	return err
}

// wakeOwn makes the fd a side of this process waits on readable, so that
// whoever sleeps on it (an event loop that armed the side) wakes and finds
// the side closed. In a process with both sides the notifier is ours to
// signal; across processes our wakeup socket only receives from the peer,
// so it is shut for reading instead (a socket shut for reading reports end
// of file; it does not touch the peer's direction).
func (c *channel[T]) wakeOwn(own notify.Notifier) {
	if c.region != nil {
		notify.ShutRead(own) // under the notifier's lock: never a closed fd
		return
	}
	own.Signal()
}

// markGone records that the peer process is gone: the flag, then the ring
// (a producer's fast path stops at its next call), then local waits are
// woken to look. Safe from any goroutine; idempotent.
func (c *channel[T]) markGone() {
	if c.gone.Load() {
		return
	}
	if c.peerClosed != nil && c.peerClosed() {
		// A clean close, then the process went away: the close stands
		// (io.EOF, ErrClosed), the hangup adds nothing.
		if c.wakeAll != nil {
			c.wakeAll()
		}
		return
	}
	// The flag first: a Send that sees the ring stop must find it set, or
	// it would report a clean close.
	c.gone.Store(true)
	if c.peerGone != nil {
		c.peerGone()
	}
	if c.wakeAll != nil {
		c.wakeAll()
	}
}

func (c *channel[T]) unref() error {
	if c.refs.Add(-1) != 0 {
		return nil
	}
	return c.close()
}

func (c *channel[T]) close() error {
	if c.shutdown != nil {
		c.shutdown()
	}
	if err := c.closeNotifiers(); err != nil {
		return fmt.Errorf("fdring: close: %w", err)
	}
	return nil
}

// New returns both sides of a new in-process channel: a ring of capacity
// elements of T (a power of two) and two wakeup fds. Close both sides to
// release the fds.
func New[T any](capacity int, opts ...Option) (*Sender[T], *Receiver[T], error) {
	cfg := config{spin: DefaultSpin}
	for _, o := range opts {
		o(&cfg)
	}
	size := ring.Size[T](capacity)
	if size == 0 {
		// Let Init say precisely what is wrong (type or capacity).
		_, err := ring.Init[T](nil, capacity)
		return nil, nil, fmt.Errorf("fdring: new: %w", err)
	}
	mem := cfg.mem
	if mem == nil {
		mem = alignedBytes(size, 128)
	}
	r, err := ring.Init[T](mem, capacity)
	if err != nil {
		return nil, nil, fmt.Errorf("fdring: new: %w", err)
	}
	c := &channel[T]{ring: r, spin: cfg.spin, data: cfg.data, space: cfg.space}
	if (c.data == nil) != (c.space == nil) {
		return nil, nil, errors.New("fdring: new: WithNotifiers needs both notifiers")
	}
	if c.data == nil {
		if c.data, err = newNotifier(cfg.kind); err == nil {
			if c.space, err = newNotifier(cfg.kind); err != nil {
				c.data.Close()
			}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("fdring: new: %w", err)
		}
	}
	c.refs.Store(2)
	return newSender(c), newReceiver(c), nil
}

func newNotifier(kind NotifierKind) (notify.Notifier, error) {
	switch kind {
	case Eventfd:
		return notify.New()
	case Pipe:
		return notify.NewPipe()
	default:
		return nil, fmt.Errorf("unknown notifier kind %d", kind)
	}
}

// alignedBytes returns n zeroed bytes starting at a multiple of align, in
// memory the garbage collector keeps alive (and never scans: no pointers).
func alignedBytes(n, align int) []byte {
	words := make([]uint64, (n+align)/8+1)
	// SAFETY: the []byte covers exactly the words' memory; it keeps the
	// allocation alive like the []uint64 would.
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(words)*8)
	off := 0
	if rem := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % uintptr(align)); rem != 0 {
		off = align - rem
	}
	return b[off : off+n : off+n]
}

// spinUntil polls ready for up to d, backing off exponentially between
// polls. The backoff matters as much as the spin: every poll pulls the
// peer's index line into this core's cache, and the peer's next publish
// must then win it back; a poller that leaves the peer alone for a few
// hundred nanoseconds lets it publish many elements at local-cache speed,
// and then picks them all up with one miss. The clock is read once per
// clockEvery polls at full backoff (about every 4 us), and so is
// runtime.Gosched: should the peer goroutine share this P, it gets to run
// (spinning would only delay it); otherwise Gosched returns at once.
func spinUntil(d time.Duration, ready func() bool) bool {
	if d <= 0 {
		return false
	}
	start := time.Now()
	backoff := minBackoff
	for i := 1; ; i++ {
		if ready() {
			return true
		}
		pause(backoff)
		if backoff < maxBackoff {
			backoff *= 2
			continue
		}
		if i%clockEvery == 0 {
			if time.Since(start) >= d {
				return ready()
			}
			runtime.Gosched()
		}
	}
}

// Backoff bounds, in iterations of pause (about half a nanosecond each),
// and how many full-backoff polls pass between clock reads.
const (
	minBackoff = 512
	maxBackoff = 4096
	clockEvery = 2
)

// pause burns about n cycles without touching memory.
//
//go:noinline
func pause(n int) {
	for i := 0; i < n; i++ {
	}
}

// wakeSpin is how long a side that just woke its peer spins before it
// sleeps itself: about two wakeup latencies, since the peer is about to
// run. Without it, two sides whose spin is shorter than a wakeup take turns
// sleeping forever (each wakes the other, then sleeps before it answers),
// and a stream runs at the speed of wakeups. A channel configured not to
// spin (WithSpin(0)) does not spin here either.
func wakeSpin(spin time.Duration) time.Duration {
	if spin <= 0 {
		return 0
	}
	return 50 * time.Microsecond
}
