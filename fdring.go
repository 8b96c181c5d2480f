// Package fdring is a single-producer single-consumer channel over a
// zero-copy ring buffer whose sides wake each other through file
// descriptors, only when they must.
//
// A channel is a ring (package ring) in memory the caller chooses, plus its
// wakeup fds (package notify): in one process (New) two of them, data-ready,
// which the producer signals and the consumer waits on, and space-ready, the
// other way round; between processes (Dial, Accept) the connection, a
// SOCK_SEQPACKET socket, carries both directions' wakeups. A side signals
// only when its peer declared that it sleeps, and only once per sleep, so
// while both sides are busy no syscall is made at all: a Send or Recv with
// room or data costs a couple of atomic operations and a call of the caller's
// closure on ring memory.
//
//	tx, rx, err := fdring.New[Sample](1024)
//	n, err := tx.Send(func(free []Sample) int { ... return written })
//	n, err := rx.RecvWait(ctx, func(data []Sample) int { ... return consumed })
//	err = tx.Put(ctx, Sample{...}) // one element per call
//	s, err := rx.Get(ctx)
//
// Put and Get move one element per call, like a channel, and wait like
// SendWait and RecvWait; TryPut and TryGet never wait. Send and Recv never block; SendWait and RecvWait spin briefly, then sleep
// on their fd through Go's runtime poller (no OS thread is held) until the
// peer signals or the context ends. For event loops, each side exposes
// Fd, Ready, Arm and WaitClear (see package loop).
//
// Each side belongs to one goroutine at a time. Close may be called from any
// goroutine, and wakes a SendWait or RecvWait of its own side in progress.
//
// Element types must hold no pointers (no pointer, string, slice, map, chan,
// func or interface anywhere inside): the memory may be shared with another
// process and is invisible to the garbage collector. New, Dial and Accept
// reject other types with an error wrapping ErrBadType.
package fdring

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/fdring/fdring/notify"
	"github.com/fdring/fdring/ring"
)

// Errors, all errors.Is-able through whatever wrapping they arrive in.
var (
	// ErrClosed: this side was closed, or the peer closed the receiving
	// side (a Send has nobody to read it).
	ErrClosed = errors.New("fdring: closed")
	// ErrPeerGone: the peer process died without closing; everything it
	// had committed was delivered first.
	ErrPeerGone = errors.New("fdring: peer gone")
	// ErrCorrupt: the shared ring state was inconsistent (a buggy or
	// hostile peer). The side stops; nothing is read out of bounds.
	ErrCorrupt = ring.ErrCorrupt
	// ErrTypeMismatch: the peer's element type differs (size, alignment
	// or layout fingerprint).
	ErrTypeMismatch = ring.ErrTypeMismatch
	// ErrBadType: the element type holds pointers or has size zero.
	ErrBadType = ring.ErrBadType
)

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
