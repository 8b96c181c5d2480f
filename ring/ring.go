// Package ring is a lock-free single-producer single-consumer ring buffer over
// memory the caller provides: a Go slice, or a shared mapping that another
// process attached to with Open. It makes no syscalls and no allocations; the
// layer above (package fdring) turns its wake results into fd signals.
//
// # Concurrency protocol
//
// Who writes which shared word (see header.go for the offsets):
//
//	tail     producer only (atomic store after the elements are written)
//	head     consumer only (atomic store after the elements were read)
//	txState  producer sets 0->1 (CAS, "I sleep until there is space"), 1->0
//	         (CAS, undo) and ->2 (swap, "closed"); the consumer CASes 1->0
//	         to claim the right to wake the producer.
//	rxState  the mirror image, owned by the consumer.
//
// Each side keeps its own index in private memory (the shared copy is only
// ever written, never read back) and a private cached copy of the peer's
// index. The peer's index is reloaded only when the cache says full (producer)
// or empty (consumer). So a Send with room costs exactly: compare with the
// cache, fill, one atomic store of tail, one atomic load of rxState. Recv is
// the mirror image. Nothing else is on that path: closed state, errors and
// statistics are found on the slow path or through the state word the fast
// path loads anyway (a state of 2 means the peer closed).
//
// Wakeup (no lost wakeup, no signal while the peer is awake). A consumer that
// is about to sleep does
//
//	C1: rxState.CAS(0, 1)      declare: I am going to sleep
//	C2: t := tail.Load()       re-check
//	    if t != head: rxState.CAS(1, 0) and do not sleep
//
// and the producer, after publishing, does
//
//	P1: tail.Store(t')
//	P2: if rxState.Load() == 1 && rxState.CAS(1, 0): wake = true (signal once)
//
// Go's sync/atomic operations are sequentially consistent: all of them appear
// in one total order that respects each goroutine's program order. C1 and P1
// are stores, C2 and P2 loads of the other's word, so in that order either P1
// precedes C2 (the consumer sees the new tail and does not sleep) or C1
// precedes P2 (the producer sees 1 and signals). Both may happen; then the
// consumer undoes its flag while the producer claims it, and whoever wins the
// CAS decides: at most one signal per sleep, possibly a spurious one, never
// none. The same argument with the roles swapped covers a producer waiting for
// space, and the close transition (state := 2 is a store before the closer
// loads the peer's state). On amd64 and arm64 these atomics compile to the
// same instructions (XCHG/LOCK CMPXCHG/MOV; STLR/LDAR/CASAL) whether the peer
// is a goroutine or another process mapping the same physical memory, so the
// argument holds across processes too.
//
// ring/model/wakeup.pml models this protocol (both sides, both state words,
// both eventfds, the close transitions) for the spin model checker, and
// TestWakeupModel checks it: no invalid end state (a lost wakeup) and no
// element lost or read twice, while a variant without the re-check after
// declaring fails. Keep the model and this file in step.
//
// # Untrusted memory
//
// The shared words may be written by a hostile or buggy peer. A side never
// reads its own index back, validates the peer's index on every load
// (the consumer: cachedTail <= tail <= head+capacity; the producer:
// cachedHead <= head <= tail), keeps capacity, mask and element size in
// private memory, and indexes only its private []T of exactly capacity
// elements. An inconsistent value stops the side and makes Err report
// ErrCorrupt; nothing is read or written out of bounds and nothing panics.
package ring

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Ring is the process-local view of one ring. It hands out at most one Sender
// and one Receiver; in another process, Open gives a second view of the same
// memory, and each process uses one side.
type Ring[T any] struct {
	hdr  *header
	data []T // exactly capacity elements, private slice header over mem
	mem  []byte
	cap  uint64
	mask uint64

	corrupt atomic.Pointer[CorruptError]

	// Each side is padded onto its own cache lines: in-process, the two
	// sides are used by two goroutines.
	_  [128]byte
	tx Sender[T]
	_  [128]byte
	rx Receiver[T]
	_  [128]byte
}

// Sender is the producer side. Its methods (other than Close and Err) must be
// called from one goroutine at a time.
type Sender[T any] struct {
	r        *Ring[T]
	tail     uint64 // private: our index, never read back from shared memory
	limit    uint64 // cached head + capacity; tail == limit means "full or stopped"
	reserved int    // length of the slice the last Reserve returned
	stopped  bool   // peer closed or ring corrupt: limit pinned at tail
}

// Receiver is the consumer side. Its methods (other than Close and Err) must
// be called from one goroutine at a time.
type Receiver[T any] struct {
	r        *Ring[T]
	head     uint64 // private: our index
	avail    uint64 // cached tail; head == avail means "empty or stopped"
	peeked   int
	stopped  bool
	peerDone bool // producer closed and we saw its final tail
}

// Sender returns the producer side of r.
func (r *Ring[T]) Sender() *Sender[T] { return &r.tx }

// Receiver returns the consumer side of r.
func (r *Ring[T]) Receiver() *Receiver[T] { return &r.rx }

// Cap returns the capacity in elements.
func (r *Ring[T]) Cap() int { return int(r.cap) }

// Mem returns the memory the ring lives in.
func (r *Ring[T]) Mem() []byte { return r.mem }

// Err returns nil, or an error wrapping ErrCorrupt once either side has seen
// the shared state inconsistent. It is sticky and safe from any goroutine.
func (r *Ring[T]) Err() error {
	if e := r.corrupt.Load(); e != nil {
		return e
	}
	return nil
}

func (r *Ring[T]) setCorrupt(what string, got, lo, hi uint64) {
	r.corrupt.CompareAndSwap(nil, &CorruptError{What: what, Got: got, Lo: lo, Hi: hi})
}

func (r *Ring[T]) init(hdr *header, mem []byte, capacity uint64) {
	r.hdr = hdr
	r.mem = mem
	r.cap = capacity
	r.mask = capacity - 1
	// SAFETY: Init/Open checked that mem holds headerSize + capacity*sizeof(T)
	// bytes, that the data offset is aligned for T and that T holds no
	// pointers; mem keeps the backing memory alive (a Go slice) or the caller
	// keeps the mapping until it stops using the ring.
	r.data = unsafe.Slice((*T)(unsafe.Pointer(&mem[headerSize])), int(capacity))

	head := hdr.head.Load()
	tail := hdr.tail.Load()
	r.tx = Sender[T]{r: r, tail: tail, limit: head + capacity}
	r.rx = Receiver[T]{r: r, head: head, avail: tail}
}

// ---- Sender ----

// Send calls fill with the largest contiguous free slice (never empty) and
// publishes the elements fill reports written. It returns 0 without calling
// fill when the ring is full, the receiver closed, or the ring is corrupt
// (see Closed and Err). wake is true when the receiver had declared it sleeps
// and this call claimed the right to wake it: signal its fd exactly once.
//
// A fill that returns a count below 0 or above len(free) is a programming
// error: Send panics and publishes nothing.
func (s *Sender[T]) Send(fill func(free []T) int) (n int, wake bool) {
	free := s.Reserve()
	if len(free) == 0 {
		return 0, false
	}
	n = fill(free)
	if uint(n) > uint(len(free)) {
		s.reserved = 0
		panic(fmt.Sprintf("ring: fill returned %d, want 0..%d", n, len(free)))
	}
	return n, s.Commit(n)
}

// Reserve returns the largest contiguous free slice, empty when the ring is
// full, the receiver closed or the ring is corrupt. Write into it, then call
// Commit with the number of elements written. Reserve without Commit commits
// nothing; a later Reserve replaces the reservation.
func (s *Sender[T]) Reserve() []T {
	if s.tail == s.limit && !s.refill() {
		s.reserved = 0
		return nil
	}
	r := s.r
	idx := s.tail & r.mask
	end := min(idx+(s.limit-s.tail), r.cap)
	free := r.data[idx:end]
	s.reserved = len(free)
	return free
}

// Commit publishes the first n elements of the slice Reserve returned. n must
// be in 0..len(reserved); anything else is a programming error and panics
// without publishing. wake has the meaning described at Send.
func (s *Sender[T]) Commit(n int) (wake bool) {
	reserved := s.reserved
	s.reserved = 0
	if uint(n) > uint(reserved) {
		panic(fmt.Sprintf("ring: Commit(%d) outside the reserved 0..%d", n, reserved))
	}
	if n == 0 {
		return false
	}
	s.tail += uint64(n)
	h := s.r.hdr
	h.tail.Store(s.tail)
	if st := h.rxState.Load(); st != stateRunning {
		return s.peerState(st)
	}
	return false
}

// peerState handles a non-running receiver state after a publish.
func (s *Sender[T]) peerState(st uint32) bool {
	switch st {
	case stateWaiting:
		return s.r.hdr.rxState.CompareAndSwap(stateWaiting, stateRunning)
	case stateClosed:
		s.stop()
	default:
		s.r.setCorrupt("rxState", uint64(st), 0, uint64(stateClosed))
		s.stop()
	}
	return false
}

// refill is the slow path: the cache says full. It reloads head, validates it
// and reports whether there is room now.
func (s *Sender[T]) refill() bool {
	if s.stopped {
		return false
	}
	r := s.r
	if r.corrupt.Load() != nil {
		s.stop()
		return false
	}
	head := r.hdr.head.Load()
	oldHead := s.limit - r.cap
	// Valid: oldHead <= head <= tail (unsigned arithmetic handles wrap).
	if head-oldHead > s.tail-oldHead {
		r.setCorrupt("head", head, oldHead, s.tail)
		s.stop()
		return false
	}
	if st := r.hdr.rxState.Load(); st == stateClosed {
		s.stop()
		return false
	} else if st > stateClosed {
		r.setCorrupt("rxState", uint64(st), 0, uint64(stateClosed))
		s.stop()
		return false
	}
	s.limit = head + r.cap
	return s.tail != s.limit
}

func (s *Sender[T]) stop() {
	s.stopped = true
	s.limit = s.tail
}

// Ready reports whether a Send would make progress or observe a terminal
// state (receiver closed, corruption). It never sleeps and never declares.
func (s *Sender[T]) Ready() bool {
	return s.tail != s.limit || s.refill() || s.stopped
}

// Arm declares that the producer is about to sleep until there is space, then
// re-checks. It returns true when the caller must not sleep: there is space,
// the receiver closed, the ring is corrupt, or the sender itself was closed.
// After false, the receiver will signal once when it frees space or closes.
func (s *Sender[T]) Arm() bool {
	h := s.r.hdr
	if s.Ready() {
		return true
	}
	if !h.txState.CompareAndSwap(stateRunning, stateWaiting) {
		// Already waiting (a previous Arm whose signal is still due) or
		// closed by Close from another goroutine.
		if h.txState.Load() == stateWaiting {
			return s.Ready()
		}
		return true
	}
	if s.Ready() {
		s.Disarm()
		return true
	}
	return false
}

// Disarm withdraws a declaration made by Arm. If the receiver already claimed
// the wakeup, its signal is still on its way: the caller will see one
// spurious wakeup.
func (s *Sender[T]) Disarm() {
	s.r.hdr.txState.CompareAndSwap(stateWaiting, stateRunning)
}

// Close marks the end of the stream: the receiver drains what was published,
// then sees Done. wake is true when the receiver sleeps and must be signalled.
// Close is safe from any goroutine and idempotent; Send after Close is a
// programming error the layer above prevents.
func (s *Sender[T]) Close() (wake bool) {
	h := s.r.hdr
	if h.txState.Swap(stateClosed) == stateClosed {
		return false
	}
	return h.rxState.CompareAndSwap(stateWaiting, stateRunning)
}

// PeerGone records that the receiver's process died without closing: it
// marks the receiver closed in the shared header (nobody else reads it any
// more), so Send stops at its next publish without an extra check on its
// fast path. Safe from any goroutine.
func (s *Sender[T]) PeerGone() {
	s.r.hdr.rxState.Store(stateClosed)
}

// Closed reports whether the receiver closed its side.
func (s *Sender[T]) Closed() bool {
	return s.r.hdr.rxState.Load() == stateClosed
}

// Err returns the ring's sticky corruption error, or nil.
func (s *Sender[T]) Err() error { return s.r.Err() }

// Sent returns the number of elements this side has published (its index).
func (s *Sender[T]) Sent() uint64 { return s.r.hdr.tail.Load() }

// ---- Receiver ----

// Recv calls read with the largest contiguous readable slice (never empty)
// and releases the elements read reports consumed. It returns 0 without
// calling read when the ring is empty, the ring is corrupt, or the receiver
// reached the end of a closed stream (see Done, Err). wake is true when the
// producer had declared it sleeps and this call claimed the right to wake it.
//
// A read that returns a count below 0 or above len(data) is a programming
// error: Recv panics and releases nothing.
func (r *Receiver[T]) Recv(read func(data []T) int) (n int, wake bool) {
	data := r.Peek()
	if len(data) == 0 {
		return 0, false
	}
	n = read(data)
	if uint(n) > uint(len(data)) {
		r.peeked = 0
		panic(fmt.Sprintf("ring: read returned %d, want 0..%d", n, len(data)))
	}
	return n, r.Release(n)
}

// Peek returns the largest contiguous readable slice, empty when there is
// nothing to read. The elements stay in the ring until Release.
func (r *Receiver[T]) Peek() []T {
	if r.head == r.avail && !r.reload() {
		r.peeked = 0
		return nil
	}
	rg := r.r
	idx := r.head & rg.mask
	end := min(idx+(r.avail-r.head), rg.cap)
	data := rg.data[idx:end]
	r.peeked = len(data)
	return data
}

// Release frees the first n elements of the slice Peek returned. n must be
// in 0..len(peeked); anything else is a programming error and panics.
func (r *Receiver[T]) Release(n int) (wake bool) {
	peeked := r.peeked
	r.peeked = 0
	if uint(n) > uint(peeked) {
		panic(fmt.Sprintf("ring: Release(%d) outside the peeked 0..%d", n, peeked))
	}
	if n == 0 {
		return false
	}
	r.head += uint64(n)
	h := r.r.hdr
	h.head.Store(r.head)
	if st := h.txState.Load(); st != stateRunning {
		return r.peerState(st)
	}
	return false
}

func (r *Receiver[T]) peerState(st uint32) bool {
	switch st {
	case stateWaiting:
		return r.r.hdr.txState.CompareAndSwap(stateWaiting, stateRunning)
	case stateClosed:
		// The producer closed; we keep draining until Done.
	default:
		r.r.setCorrupt("txState", uint64(st), 0, uint64(stateClosed))
		r.stop()
	}
	return false
}

// reload is the slow path: the cache says empty. It reloads tail, validates
// it and reports whether there is data now.
func (r *Receiver[T]) reload() bool {
	if r.stopped {
		return false
	}
	rg := r.r
	if rg.corrupt.Load() != nil {
		r.stop()
		return false
	}
	tail := rg.hdr.tail.Load()
	// Valid: avail <= tail <= head + capacity.
	if tail-r.avail > r.head+rg.cap-r.avail {
		rg.setCorrupt("tail", tail, r.avail, r.head+rg.cap)
		r.stop()
		return false
	}
	r.avail = tail
	return r.head != tail
}

func (r *Receiver[T]) stop() {
	r.stopped = true
	r.avail = r.head
}

// Done reports whether the producer closed and every element it published
// was consumed: the end of the stream. It is false on a corrupt ring (see
// Err).
func (r *Receiver[T]) Done() bool {
	if r.stopped {
		return false
	}
	if !r.peerDone {
		st := r.r.hdr.txState.Load()
		if st != stateClosed {
			if st > stateClosed {
				r.r.setCorrupt("txState", uint64(st), 0, uint64(stateClosed))
				r.stop()
			}
			return false
		}
		r.peerDone = true
	}
	if r.head != r.avail {
		return false
	}
	// The producer stored its final tail before it stored stateClosed and
	// we loaded stateClosed before this reload, so this sees the final tail.
	r.reload()
	return r.head == r.avail && !r.stopped
}

// Ready reports whether a Recv would make progress, or the receiver must
// observe a terminal state (end of stream, corruption).
func (r *Receiver[T]) Ready() bool {
	return r.head != r.avail || r.reload() || r.stopped || r.Done()
}

// Arm declares that the consumer is about to sleep until data arrives, then
// re-checks. It returns true when the caller must not sleep: there is data,
// the stream ended, the ring is corrupt, or the receiver itself was closed.
// After false, the producer will signal once when it publishes or closes.
func (r *Receiver[T]) Arm() bool {
	h := r.r.hdr
	if r.Ready() {
		return true
	}
	if !h.rxState.CompareAndSwap(stateRunning, stateWaiting) {
		if h.rxState.Load() == stateWaiting {
			return r.Ready()
		}
		return true
	}
	if r.Ready() {
		r.Disarm()
		return true
	}
	return false
}

// Disarm withdraws a declaration made by Arm (see Sender.Disarm).
func (r *Receiver[T]) Disarm() {
	r.r.hdr.rxState.CompareAndSwap(stateWaiting, stateRunning)
}

// Close tells the producer that nobody reads any more: its Send stops. wake
// is true when the producer sleeps and must be signalled. Safe from any
// goroutine; idempotent.
func (r *Receiver[T]) Close() (wake bool) {
	h := r.r.hdr
	if h.rxState.Swap(stateClosed) == stateClosed {
		return false
	}
	return h.txState.CompareAndSwap(stateWaiting, stateRunning)
}

// Closed reports whether the producer closed its side (there may still be
// data to drain; see Done).
func (r *Receiver[T]) Closed() bool {
	return r.r.hdr.txState.Load() == stateClosed
}

// Err returns the ring's sticky corruption error, or nil.
func (r *Receiver[T]) Err() error { return r.r.Err() }

// Received returns the number of elements this side has released.
func (r *Receiver[T]) Received() uint64 { return r.r.hdr.head.Load() }
