// Package ring is a lock-free single-producer single-consumer ring buffer over
// memory the caller provides: a Go slice, or a shared mapping that another
// process attached to with Open. It allocates nothing and makes no syscall on
// its data path; the layer above (package fdring) turns its Wake results into
// fd signals.
//
// # Concurrency protocol
//
// Who writes which shared word (see header.go for the offsets):
//
//	tail     producer only (a release store after the elements are written)
//	head     consumer only (a release store after the elements were read)
//	txState  producer sets 0->1 (CAS, "I sleep until there is space"), 1->0
//	         (CAS, undo) and ->2 (swap, "closed"); the consumer CASes 1->0
//	         to claim the right to wake the producer.
//	rxState  the mirror image, owned by the consumer.
//
// Each side keeps its own index in private memory (the shared copy is only
// ever written, never read back) and a private cached copy of the peer's
// index. The peer's index is reloaded only when the cache says full (producer)
// or empty (consumer). So a Push with room costs exactly: compare with the
// cache and the side's own halt word (both in the side's private cache
// line: closed, or for a producer also "the receiver's process is gone"),
// fill, one release store of tail, one load of rxState. Pull is the
// mirror image. Nothing else is on that path: the peer's close, corruption
// and statistics are found on the slow path or through the state word the
// fast path loads anyway (a state of 2 means the peer closed).
//
// Wakeup (no lost wakeup, no signal while the peer is awake). A consumer that
// is about to sleep does
//
//	C1: rxState.CAS(0, 1)      declare: I am going to sleep (a full fence here)
//	C2: fence(peer)            membarrier(2), see below
//	C3: t := tail.Load()       re-check
//	    if t != head: rxState.CAS(1, 0) and do not sleep
//
// and the producer, after publishing, does
//
//	P1: tail = t'              release store
//	P2: if rxState.Load() == 1 && rxState.CAS(1, 0): wake = true (signal once)
//
// The publish P1 is a release store: on amd64 a plain MOV (storeRelease in
// publish_amd64.go), which x86 keeps in order after the element stores but
// may let the later load P2 overtake (the store waits in the store buffer).
// A sequentially consistent store (XCHG) would forbid that, but it drains the
// store buffer on every publish and so exposes every cache-line miss on the
// data in full, once per item: measured, 10-20x slower per item when the two
// CPUs are far apart. The order P1-before-P2 is instead restored from the
// sleeping side, which is about to make a syscall anyway: C2 is membarrier(2)
// (MEMBARRIER_CMD_PRIVATE_EXPEDITED when the peer is a thread of this
// process, GLOBAL_EXPEDITED when it is another process that registered for
// it), which makes every running thread of the peer execute a full memory
// barrier before it returns. So either the producer's P1 was before that
// barrier, and is visible to C3 (the consumer sees the data and does not
// sleep), or the producer's P2 comes after the barrier, which comes after
// C1, and P2 sees 1 (the producer signals). Both may happen; then the
// consumer undoes its flag while the producer claims it, and whoever wins
// the CAS decides: at most one signal per sleep, possibly a spurious one,
// never none. The same argument with the roles swapped covers a producer
// waiting for space, and the close transition (state := 2 is a swap, a full
// fence, before the closer loads the peer's state).
//
// Where membarrier is not available (other systems, old kernels, a refused
// registration, or the race detector, which must see the happens-before edge
// of an atomic store), indices are published with atomic.Store, a
// sequentially consistent store, and no fence is needed: the original
// argument (C1 and P1 are stores, C3 and P2 loads of the other's word, and
// all four are in one total order) holds. PlainStores reports whether this
// process can use plain stores. A ring shared with another process
// (SetShared) publishes with sequentially consistent stores anyway: the
// fence across processes interrupts the peer's CPU once per sleep, which
// cost bulk transfers more than the plain stores saved. Each side tells the
// other in the handshake, and fences only if the peer says it publishes
// with plain stores (SetRemotePeer).
// On arm64 atomic.Store is STLR and atomic.Load LDAR, which never reorder,
// so arm64 always uses them and never fences.
//
// ring/model/wakeup.pml models this protocol (both sides, a store buffer on
// the publishing side, the fence on the sleeping side, both state words, the
// close transitions) for the spin model checker, and TestWakeupModel checks
// it: no invalid end state (a lost wakeup) and no element lost or read
// twice, while the variants without the fence or without the re-check after
// declaring fail. Keep the model and this file in step.
//
// # Untrusted memory
//
// The shared words may be written by a hostile or buggy peer at any time. A
// side loads each shared word once and uses only the value it validated:
// it never reads its own index back, validates the peer's index on every
// load (the consumer: avail <= tail <= head+capacity; the producer:
// oldHead <= head <= tail), treats any state word outside 0..2 (and its own
// state word changed by the peer to closed) as corruption, keeps capacity,
// mask and element size in private memory, and indexes only its private []T
// of exactly capacity elements. An inconsistent value stops the side and
// makes Err report ErrCorrupt; nothing is read or written out of bounds and
// nothing panics. A side that stops keeps handing out only what it had
// validated before (a slice it returned from Peek or Reserve stays
// releasable), so its own invariants hold whatever the peer did.
//
// # Closing
//
// Close (from any goroutine) sets the side's private closed flag (a bit of
// the Sender's halt word), which the fast path checks in the same cache line
// as its indices (never contended: written once), and swaps the shared
// state to 2. PeerGone sets the Sender's other halt bit: a receiver found
// gone is recorded privately, never in the shared header (the receiver may
// be alive and merely have broken the protocol). It never frees memory:
// the memory belongs to the caller (fdring keeps a mapping until nothing
// can touch it).
package ring

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Result tells the caller of a ring operation what is left for it to do.
type Result uint8

const (
	// OK: nothing to do. With a count of 0: the ring was full (Push,
	// Reserve) or empty (Pull, Peek).
	OK Result = iota
	// Wake: the peer had declared it sleeps and this call claimed the
	// right to wake it: signal its fd exactly once.
	Wake
	// Stopped: the ring takes or gives nothing more on this side: the
	// peer closed (producer side), this side was closed, the ring is
	// corrupt (Err), or the stream ended (Done). Elements a call reports
	// alongside Stopped were written or read.
	Stopped
	// Empty: returned by Put and Get only: nothing moved, the ring was
	// full (Put) or empty (Get) and has not stopped.
	Empty
)

// Ring is the process-local view of one ring. It hands out at most one Sender
// and one Receiver; in another process, Open gives a second view of the same
// memory, and each process uses one side.
type Ring[T any] struct {
	ringCore
	data []T // exactly capacity elements, private slice header over mem
	mem  []byte

	// Each side is padded onto its own cache lines: in-process, the two
	// sides are used by two goroutines.
	_  [128]byte
	tx Sender[T]
	_  [128]byte
	rx Receiver[T]
	_  [128]byte
}

// ringCore is what the sides of a ring share that does not depend on the
// element type: the slow paths are written against it (and txCore,
// rxCore), so they exist once, not once per element type, and the fast
// paths carry no type dictionary across the caller's callback.
type ringCore struct {
	hdr     *header
	cap     uint64
	mask    uint64
	corrupt atomic.Pointer[CorruptError]
	// fence is what a side about to sleep does so that the peer's plain
	// index stores are visible to its re-check (see the protocol above).
	fence fenceKind
}

// Sender is the producer side. Its methods other than Close, Closed and Err
// must be called from one goroutine at a time (the owner).
type Sender[T any] struct {
	data []T
	txCore
}

// txCore is the Sender's state; every method but the ones that hand out
// elements (Push, Reserve) is written against it.
type txCore struct {
	hdr   *header
	mask  uint64
	tail  uint64 // private: our index, never read back from shared memory
	limit uint64 // cached head + capacity; tail == limit means "full or stopped"
	// halt: haltClosed once Close was called, haltGone once the layer
	// above found the receiver's process gone (PeerGone). Checked on the
	// fast path (this cache line; written once each).
	halt     atomic.Uint32
	plain    bool // publish with a plain store (see storeRelease and SetShared)
	stopped  bool // the peer closed, the ring is corrupt or we closed: no room beyond limit
	reserved int  // length of the slice the last Reserve returned
	// resTail: tail when Reserve returned that slice; a publish since
	// (Push, TryPut, Put) moved tail and ended the reservation (see held).
	resTail uint64
	putDone bool // a TryPut published and left the rest to Put
	r       *ringCore
}

// Receiver is the consumer side. Its methods other than Close, Closed and
// Err must be called from one goroutine at a time (the owner).
type Receiver[T any] struct {
	data []T
	rxCore
}

// rxCore is the Receiver's state; every method but the ones that hand out
// elements (Pull, Peek) is written against it.
type rxCore struct {
	hdr   *header
	mask  uint64
	head  uint64 // private: our index
	avail uint64 // cached tail; head == avail means "empty or stopped"
	// halt: haltClosed once Close was called; haltSlow when every
	// release must take the slow path (see haltSlow).
	halt     atomic.Uint32
	plain    bool // publish with a plain store (see storeRelease and SetShared)
	stopped  bool
	peerDone bool // the producer closed and we saw its final tail
	// ended: Done reported the end of the stream; it stays the end (a
	// Send racing with the producer's Close from another goroutine may
	// store its tail after the close: never an element after the end).
	ended  bool
	peeked int
	// peekHead: head when Peek returned that slice; a read since (Pull,
	// TryGet, Get) moved head and ended the peek (see held).
	peekHead uint64
	getDone  bool // a TryGet took an element (held) and left the rest to Get
	r        *ringCore
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
func (r *ringCore) Err() error {
	if e := r.corrupt.Load(); e != nil {
		return e
	}
	return nil
}

// SetShared declares that the other side of this ring runs in another
// process. Both sides of this view then publish with sequentially
// consistent stores, so the peer needs no fence before it sleeps: the
// fence across processes (membarrier GLOBAL_EXPEDITED) interrupts every
// CPU that runs a thread of either process, the peer's busy copy
// included, once per sleep, and measured here that cost bulk transfers
// between processes 12-19%, more than the plain stores saved. Call it
// before either side is used; SharedPlain reports (false) what to tell
// the peer. SetRemotePeer says what the peer does.
func (r *Ring[T]) SetShared() {
	r.tx.plain, r.rx.plain = false, false
	r.tx.halt.Or(haltSlow)
	r.rx.halt.Or(haltSlow)
}

// SharedPlain reports whether this view publishes with plain stores once
// shared (SetShared): never, today. It is what a process tells its peer
// in the handshake.
func (r *Ring[T]) SharedPlain() bool { return r.tx.plain }

// SetRemotePeer declares that the other side of this ring runs in another
// process, which publishes its index with plain stores (peerPlain, that
// process's PlainStores) or with sequentially consistent ones. It decides
// the fence a side of this process makes before it sleeps. Call it before
// either side is used; Init and Open assume a peer in this process.
func (r *Ring[T]) SetRemotePeer(peerPlain bool) {
	if peerPlain {
		r.fence = fenceGlobal
	} else {
		r.fence = fenceNone
	}
}

func (r *ringCore) setCorrupt(what string, got, lo, hi uint64) {
	r.corrupt.CompareAndSwap(nil, &CorruptError{What: what, Got: got, Lo: lo, Hi: hi})
}

// init sets up the private view. head and tail are the validated values
// the caller loaded (once) from the header.
func (r *Ring[T]) init(hdr *header, mem []byte, capacity, head, tail uint64) {
	r.hdr = hdr
	r.mem = mem
	r.cap = capacity
	r.mask = capacity - 1
	r.fence = localFence()
	// SAFETY: Init/Open checked that mem holds headerSize + capacity*sizeof(T)
	// bytes, that the data offset is aligned for T and that T holds no
	// pointers; mem keeps the backing memory alive (a Go slice) or the caller
	// keeps the mapping until nothing can touch it (fdring: until the side
	// is unreachable).
	r.data = unsafe.Slice((*T)(unsafe.Pointer(&mem[headerSize])), int(capacity))
	plain := PlainStores()
	rc := &r.ringCore
	r.tx = Sender[T]{data: r.data, txCore: txCore{hdr: hdr, mask: r.mask, tail: tail, limit: head + capacity, plain: plain, r: rc}}
	r.rx = Receiver[T]{data: r.data, rxCore: rxCore{hdr: hdr, mask: r.mask, head: head, avail: tail, plain: plain, r: rc}}
	if !plain {
		r.tx.halt.Store(haltSlow)
		r.rx.halt.Store(haltSlow)
	}
}

// ---- Sender ----

// Send calls fill with the largest contiguous free slice (never empty) and
// publishes the elements fill reports written. It returns 0 without calling
// fill when the ring is full, the receiver closed, the sender closed or the
// ring is corrupt (see Closed and Err). wake is true when the receiver had
// declared it sleeps and this call claimed the right to wake it: signal its
// fd exactly once.
//
// A fill that returns a count below 0 or above len(free) is a programming
// error: Send panics and publishes nothing.
func (s *Sender[T]) Send(fill func(free []T) int) (n int, wake bool) {
	n, res := s.Push(fill)
	return n, res == Wake
}

// Push is Send that also reports, on the same call, that the ring stopped
// taking elements (Stopped: the receiver closed, this side closed, or the
// ring is corrupt), so a layer above can say so at once. With Stopped, n
// elements were published before the stop was seen: whether the receiver
// read them is unknown. The fast path makes one call (fill) and two stores
// (the private and the shared index); everything else is out of line.
func (s *Sender[T]) Push(fill func(free []T) int) (n int, res Result) {
	if s.tail == s.limit || s.halt.Load()&haltStop != 0 {
		return s.pushSlow(fill)
	}
	idx := s.tail & s.mask
	end := min(idx+(s.limit-s.tail), uint64(len(s.data)))
	free := s.data[idx:end:end]
	n = fill(free)
	if uint(n) > uint(len(free)) {
		panic(badCount("fill", n, len(free)))
	}
	if n == 0 {
		return 0, OK
	}
	s.tail += uint64(n)
	h := s.hdr
	storeRelease(&h.tail, s.tail, s.plain)
	if st := h.rxState.Load(); st != stateRunning {
		return s.peerState(st, n)
	}
	return n, OK
}

//go:noinline
func (s *Sender[T]) pushSlow(fill func(free []T) int) (int, Result) {
	if res := s.refill(); res != OK {
		return 0, res
	}
	if s.tail == s.limit {
		return 0, OK
	}
	return s.Push(fill) // there is room now: the fast path
}

// TryPut publishes one element if it can do so with nothing else to do:
// the per-item path, small enough to be inlined at the call site (no
// call, one check, the element's store, the index's private and shared
// stores, one load). true: v was published. false: call Put with the
// same v, which finishes what TryPut
// found (it published v and the receiver sleeps or stopped) or publishes
// v the slow way; call nothing else on this side before that Put (a
// TryPut that returned false may have published v already). A ring that
// publishes with sequentially consistent stores (see SetShared) always
// takes the slow way.
func (s *Sender[T]) TryPut(v T) bool {
	if s.tail == s.limit || s.halt.Load() != 0 {
		return false
	}
	s.data[s.tail&s.mask] = v
	s.tail++
	storePlain(&s.hdr.tail, s.tail)
	if s.hdr.rxState.Load() != stateRunning {
		s.putDone = true
		return false
	}
	return true
}

// Put publishes one element. OK or Wake: v was published (Wake: signal
// the receiver's fd once). Empty: the ring is full, nothing was published.
// Stopped: the ring takes nothing more (the receiver closed, this side
// closed, or the ring is corrupt); nothing was published. A publish that
// itself sees the receiver's close or a corrupt state reports OK (v is in
// the ring, like a channel send that happened before a close); the next
// Put reports Stopped. After a TryPut that returned false, Put with the
// same v completes that call.
//
//go:noinline
func (s *Sender[T]) Put(v T) Result {
	if s.putDone {
		s.putDone = false
		return s.putState(s.hdr.rxState.Load())
	}
	if s.tail == s.limit || s.halt.Load()&haltStop != 0 || s.stopped {
		if res := s.refill(); res != OK {
			return res
		}
		if s.tail == s.limit {
			return Empty
		}
	}
	s.data[s.tail&s.mask] = v
	s.tail++
	storeRelease(&s.hdr.tail, s.tail, s.plain)
	return s.putState(s.hdr.rxState.Load())
}

// putState is peerState for a Put that published its element: a stop it
// sees is reported by the next call.
func (s *txCore) putState(st uint32) Result {
	if st == stateRunning {
		return OK
	}
	if _, res := s.peerState(st, 1); res == Wake {
		return Wake
	}
	return OK
}

// Reserve returns the largest contiguous free slice, empty when the ring is
// full, the receiver closed, this side closed or the ring is corrupt. Write
// into it, then call Commit with the number of elements written. Reserve
// without Commit commits nothing; a later Reserve replaces the reservation,
// and a publish before Commit (Push, Send, TryPut, Put) ends it.
func (s *Sender[T]) Reserve() []T {
	if (s.tail == s.limit || s.halt.Load()&haltStop != 0) && (s.refill() != OK || s.tail == s.limit) {
		s.reserved = 0
		return nil
	}
	idx := s.tail & s.mask
	end := min(idx+(s.limit-s.tail), uint64(len(s.data)))
	free := s.data[idx:end:end]
	s.reserved = len(free)
	s.resTail = s.tail
	return free
}

// Commit publishes the first n elements of the slice Reserve returned. n must
// be in 0..len(reserved) (0 once a publish since the Reserve ended it);
// anything else is a programming error and panics without publishing. The
// result has the meaning described at Push; after this side's Close,
// Commit publishes nothing and returns Stopped (whatever n is).
func (s *txCore) Commit(n int) Result {
	reserved := int(s.held())
	s.reserved = 0
	if s.halt.Load()&haltStop != 0 {
		s.stop()
		return Stopped
	}
	if uint(n) > uint(reserved) {
		panic(badCount("Commit", n, reserved))
	}
	if n == 0 {
		return OK
	}
	s.tail += uint64(n)
	h := s.hdr
	storeRelease(&h.tail, s.tail, s.plain)
	if st := h.rxState.Load(); st != stateRunning {
		_, res := s.peerState(st, 0)
		return res
	}
	return OK
}

// peerState handles a non-running receiver state seen after a publish of n
// elements, and returns n with the result (taking and returning n spares
// the fast path keeping it across the call).
//
//go:noinline
func (s *txCore) peerState(st uint32, n int) (int, Result) {
	switch st {
	case stateWaiting:
		if s.hdr.rxState.CompareAndSwap(stateWaiting, stateRunning) {
			return n, Wake
		}
		return n, OK
	case stateClosed:
		s.stop()
	default:
		s.r.setCorrupt("rxState", uint64(st), 0, uint64(stateClosed))
		s.stop()
	}
	return n, Stopped
}

// refill is the slow path: the cache says full, or this side closed. It
// reloads head and validates it. OK: not stopped (there may be room now).
//
//go:noinline
func (s *txCore) refill() Result {
	if s.halt.Load()&haltStop != 0 {
		s.stop()
		return Stopped
	}
	if s.stopped {
		return Stopped
	}
	r := s.r
	if r.corrupt.Load() != nil {
		s.stop()
		return Stopped
	}
	h := s.hdr
	head := h.head.Load()
	oldHead := s.limit - r.cap
	// Valid: oldHead <= head <= tail (unsigned arithmetic handles wrap).
	if head-oldHead > s.tail-oldHead {
		if s.halt.Load()&haltStop == 0 {
			r.setCorrupt("head", head, oldHead, s.tail)
		}
		s.stop()
		return Stopped
	}
	switch st := h.rxState.Load(); {
	case st == stateClosed:
		s.stop()
		return Stopped
	case st > stateClosed:
		r.setCorrupt("rxState", uint64(st), 0, uint64(stateClosed))
		s.stop()
		return Stopped
	}
	s.limit = head + r.cap
	return OK
}

// held is the length of the reservation Commit may still publish: the
// slice the last Reserve returned, if nothing was published since (a
// Push, TryPut or Put moved tail: the slots the caller wrote are no longer
// the next ones, so the reservation is over; the inlined TryPut cannot
// spend a store on saying so), and never beyond the validated window.
func (s *txCore) held() uint64 {
	if s.reserved == 0 || s.resTail != s.tail {
		return 0
	}
	return min(uint64(s.reserved), s.limit-s.tail)
}

// stop makes the side take nothing more: limit shrinks to the end of the
// current reservation (which stays committable: the caller may hold it),
// never beyond what was validated as free.
func (s *txCore) stop() {
	s.stopped = true
	s.limit = s.tail + s.held()
}

// Ready reports whether a Send would make progress or observe a terminal
// state (receiver closed, corruption, this side closed). It never sleeps
// and never declares.
func (s *txCore) Ready() bool {
	if s.tail != s.limit && s.halt.Load()&haltStop == 0 {
		return true
	}
	return s.refill() != OK || s.tail != s.limit
}

// Arm declares that the producer is about to sleep until there is space,
// fences (see the protocol), then re-checks. It returns true when the caller
// must not sleep: there is space, the receiver closed, the ring is corrupt,
// or the sender itself was closed. After false, the receiver will signal
// once when it frees space or closes.
func (s *txCore) Arm() bool {
	if s.Ready() {
		return true
	}
	if !declare(s.r, &s.hdr.txState, s.Closed, "txState") {
		s.stop()
		return true
	}
	if !s.r.fence.wait() || s.Ready() {
		s.Disarm()
		return true
	}
	return false
}

// Disarm withdraws a declaration made by Arm. If the receiver already claimed
// the wakeup, its signal is still on its way: the caller will see one
// spurious wakeup.
func (s *txCore) Disarm() {
	s.hdr.txState.CompareAndSwap(stateWaiting, stateRunning)
}

// Close marks the end of the stream: the receiver drains what was published,
// then sees Done. wake is true when the receiver sleeps and must be signalled.
// Close is safe from any goroutine and idempotent; Send, Reserve and Commit
// after Close publish nothing.
func (s *txCore) Close() (wake bool) {
	if s.halt.Or(haltClosed)&haltClosed != 0 {
		return false
	}
	h := s.hdr
	if h.txState.Swap(stateClosed) == stateClosed {
		return false
	}
	return h.rxState.CompareAndSwap(stateWaiting, stateRunning)
}

// PeerGone records that the receiver's process is gone: Send stops at its
// next call (the fast path already checks the halt word). Nothing is
// written to the shared memory: the receiver may in fact be alive and
// merely have broken the protocol. Safe from any goroutine.
func (s *txCore) PeerGone() {
	s.halt.Or(haltGone)
}

// Room returns the free space this side knows of without looking at the
// shared memory (its cached view): after a Push that returned (0, OK), a
// Room above zero means fill was called and wrote nothing; zero, that the
// ring was full.
func (s *txCore) Room() int { return int(s.limit - s.tail) }

// Reload reloads the receiver's index, as a full ring does before it
// reports full, and validates it: Room then counts every free slot. OK, or
// Stopped when the ring takes nothing more (the next Push says why). It
// loads the peer's index line, so a caller that polls it spaces its polls.
func (s *txCore) Reload() Result { return s.refill() }

// ReceiverClosed reports whether the receiver closed its side (or was
// recorded gone with PeerGone). Safe from any goroutine.
func (s *txCore) ReceiverClosed() bool {
	return s.hdr.rxState.Load() == stateClosed
}

// Closed reports whether this side was closed. Safe from any goroutine.
func (s *txCore) Closed() bool { return s.halt.Load()&haltClosed != 0 }

// Err returns the ring's sticky corruption error, or nil.
func (s *txCore) Err() error { return s.r.Err() }

// Sent returns the number of elements this side has published (the shared
// index). Safe from any goroutine while the memory is mapped.
func (s *txCore) Sent() uint64 { return s.hdr.tail.Load() }

// ---- Receiver ----

// Recv calls read with the largest contiguous readable slice (never empty)
// and releases the elements read reports consumed. It returns 0 without
// calling read when the ring is empty, the ring is corrupt, this side was
// closed, or the receiver reached the end of a closed stream (see Done,
// Err). wake is true when the producer had declared it sleeps and this call
// claimed the right to wake it.
//
// A read that returns a count below 0 or above len(data) is a programming
// error: Recv panics and releases nothing.
func (r *Receiver[T]) Recv(read func(data []T) int) (n int, wake bool) {
	n, res := r.Pull(read)
	return n, res == Wake
}

// Pull is Recv that also reports Stopped when the ring gives nothing more
// (the stream ended, this side closed, or the ring is corrupt; see Done and
// Err). Its fast path is the mirror image of Push's.
func (r *Receiver[T]) Pull(read func(data []T) int) (n int, res Result) {
	if r.head == r.avail || r.halt.Load()&haltClosed != 0 {
		return r.pullSlow(read)
	}
	idx := r.head & r.mask
	end := min(idx+(r.avail-r.head), uint64(len(r.data)))
	data := r.data[idx:end:end]
	n = read(data)
	if uint(n) > uint(len(data)) {
		panic(badCount("read", n, len(data)))
	}
	if n == 0 {
		return 0, OK
	}
	r.head += uint64(n)
	h := r.hdr
	storeRelease(&h.head, r.head, r.plain)
	if st := h.txState.Load(); st != stateRunning {
		return r.peerState(st, n)
	}
	return n, OK
}

//go:noinline
func (r *Receiver[T]) pullSlow(read func(data []T) int) (int, Result) {
	if res := r.reload(); res != OK {
		return 0, res
	}
	if r.head == r.avail {
		return 0, OK
	}
	return r.Pull(read) // there is data now: the fast path
}

// TryGet takes one element if it can do so with nothing else to do: the
// Receiver's mirror of TryPut. ok false: call Get with the v TryGet
// returned; Get finishes what TryGet found (it took that element and the
// producer sleeps: Get returns it) or takes one the slow way. Call
// nothing else on this side before that Get (a TryGet that returned false
// may have taken an element already).
func (r *Receiver[T]) TryGet() (v T, ok bool) {
	if r.head == r.avail || r.halt.Load() != 0 {
		return v, false
	}
	v = r.data[r.head&r.mask]
	r.head++
	storePlain(&r.hdr.head, r.head)
	if r.hdr.txState.Load() != stateRunning {
		r.getDone = true // v is taken: Get finishes
		return v, false
	}
	return v, true
}

// Get takes one element. OK or Wake: v is the element (Wake: signal the
// producer's fd once). Empty: the ring is empty. Stopped: it gives nothing
// more (the stream ended, this side closed, or the ring is corrupt; see
// Done and Err). tried is what the TryGet before it returned (after a
// TryGet that returned false, Get completes that call), or anything when
// no TryGet came before.
//
//go:noinline
func (r *Receiver[T]) Get(tried T) (v T, res Result) {
	if r.getDone {
		r.getDone = false
		return tried, r.getState(r.hdr.txState.Load())
	}
	if r.head == r.avail || r.halt.Load()&haltClosed != 0 {
		if res := r.reload(); res != OK {
			return v, res
		}
		if r.head == r.avail {
			return v, Empty
		}
	}
	v = r.data[r.head&r.mask]
	r.head++
	storeRelease(&r.hdr.head, r.head, r.plain)
	return v, r.getState(r.hdr.txState.Load())
}

// getState is peerState for a Get that took its element: a stop it sees
// is reported by the next call.
func (r *rxCore) getState(st uint32) Result {
	if st == stateRunning {
		return OK
	}
	if _, res := r.peerState(st, 1); res == Wake {
		return Wake
	}
	return OK
}

// Peek returns the largest contiguous readable slice, empty when there is
// nothing to read. The elements stay in the ring until Release; a read
// before Release (Pull, Recv, TryGet, Get) ends the peek.
func (r *Receiver[T]) Peek() []T {
	if (r.head == r.avail || r.halt.Load()&haltClosed != 0) && (r.reload() != OK || r.head == r.avail) {
		r.peeked = 0
		return nil
	}
	idx := r.head & r.mask
	end := min(idx+(r.avail-r.head), uint64(len(r.data)))
	data := r.data[idx:end:end]
	r.peeked = len(data)
	r.peekHead = r.head
	return data
}

// Release frees the first n elements of the slice Peek returned. n must be
// in 0..len(peeked) (0 once a read since the Peek ended it); anything else
// is a programming error and panics. After this side's Close it frees
// nothing and returns Stopped (whatever n is).
func (r *rxCore) Release(n int) Result {
	peeked := int(r.held())
	r.peeked = 0
	if r.halt.Load()&haltClosed != 0 {
		r.stop()
		return Stopped
	}
	if uint(n) > uint(peeked) {
		panic(badCount("Release", n, peeked))
	}
	if n == 0 {
		return OK
	}
	r.head += uint64(n)
	h := r.hdr
	storeRelease(&h.head, r.head, r.plain)
	if st := h.txState.Load(); st != stateRunning {
		_, res := r.peerState(st, 0)
		return res
	}
	return OK
}

// peerState is the Receiver's mirror of the Sender's.
//
//go:noinline
func (r *rxCore) peerState(st uint32, n int) (int, Result) {
	switch st {
	case stateWaiting:
		if r.hdr.txState.CompareAndSwap(stateWaiting, stateRunning) {
			return n, Wake
		}
	case stateClosed:
		// The producer closed; we keep draining until Done.
	default:
		r.r.setCorrupt("txState", uint64(st), 0, uint64(stateClosed))
		r.stop()
		return n, Stopped
	}
	return n, OK
}

// reload is the slow path: the cache says empty, or this side closed. It
// reloads tail and validates it. OK: not stopped (there may be data now);
// Stopped: there never will be (closed, corrupt, end of stream).
//
//go:noinline
func (r *rxCore) reload() Result {
	if r.halt.Load()&haltClosed != 0 {
		r.stop()
		return Stopped
	}
	if r.stopped {
		if r.head != r.avail {
			return OK // validated before the stop: still releasable
		}
		return Stopped
	}
	if r.ended {
		return Stopped
	}
	rg := r.r
	if rg.corrupt.Load() != nil {
		r.stop()
		return Stopped
	}
	tail := r.hdr.tail.Load()
	// Valid: avail <= tail <= head + capacity.
	if tail-r.avail > r.head+rg.cap-r.avail {
		if r.halt.Load()&haltClosed == 0 {
			rg.setCorrupt("tail", tail, r.avail, r.head+rg.cap)
		}
		r.stop()
		return Stopped
	}
	r.avail = tail
	if r.head != tail {
		return OK
	}
	if r.Done() || r.stopped {
		return Stopped
	}
	return OK
}

// stop makes the side hand out nothing more than the elements of the
// current peek (which stay releasable: the caller may hold them), never
// beyond what was validated.
func (r *rxCore) stop() {
	r.stopped = true
	r.avail = r.head + r.held()
}

// held is the length of the peek Release may still free: the slice the
// last Peek returned, if nothing was read since (a Pull, TryGet or Get
// moved head: the elements the caller looked at are no longer the next
// ones, so the peek is over; the inlined TryGet cannot spend a store on
// saying so), and never beyond the validated window.
func (r *rxCore) held() uint64 {
	if r.peeked == 0 || r.peekHead != r.head {
		return 0
	}
	return min(uint64(r.peeked), r.avail-r.head)
}

// Done reports whether the producer closed and every element it published
// was consumed: the end of the stream. It is false on a corrupt ring (see
// Err) and after this side's Close. Once true it stays true: whatever the
// shared tail says later, the receiver hands out nothing more.
func (r *rxCore) Done() bool {
	if r.stopped || r.halt.Load()&haltClosed != 0 {
		return false
	}
	if r.ended {
		return true
	}
	if !r.peerDone {
		st := r.hdr.txState.Load()
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
	// The producer stored its final tail before it swapped in stateClosed
	// (a full fence) and we loaded stateClosed before this load, so this
	// sees the final tail.
	tail := r.hdr.tail.Load()
	if tail-r.avail > r.head+r.r.cap-r.avail {
		r.r.setCorrupt("tail", tail, r.avail, r.head+r.r.cap)
		r.stop()
		return false
	}
	r.avail = tail
	r.ended = r.head == tail
	return r.ended
}

// Ready reports whether a Recv would make progress, or the receiver must
// observe a terminal state (end of stream, corruption, this side closed).
func (r *rxCore) Ready() bool {
	if r.head != r.avail && r.halt.Load()&haltClosed == 0 {
		return true
	}
	return r.reload() != OK || r.head != r.avail
}

// Arm declares that the consumer is about to sleep until data arrives,
// fences (see the protocol), then re-checks. It returns true when the caller
// must not sleep: there is data, the stream ended, the ring is corrupt, or
// the receiver itself was closed. After false, the producer will signal
// once when it publishes or closes.
func (r *rxCore) Arm() bool {
	if r.Ready() {
		return true
	}
	if !declare(r.r, &r.hdr.rxState, r.Closed, "rxState") {
		r.stop()
		return true
	}
	if !r.r.fence.wait() || r.Ready() {
		r.Disarm()
		return true
	}
	return false
}

// Disarm withdraws a declaration made by Arm (see Sender.Disarm).
func (r *rxCore) Disarm() {
	r.hdr.rxState.CompareAndSwap(stateWaiting, stateRunning)
}

// Close tells the producer that nobody reads any more: its Send stops. wake
// is true when the producer sleeps and must be signalled. Safe from any
// goroutine; idempotent. Recv, Peek and Release after Close read and free
// nothing.
func (r *rxCore) Close() (wake bool) {
	if r.halt.Or(haltClosed)&haltClosed != 0 {
		return false
	}
	h := r.hdr
	if h.rxState.Swap(stateClosed) == stateClosed {
		return false
	}
	return h.txState.CompareAndSwap(stateWaiting, stateRunning)
}

// Buffered returns the elements this side knows to be readable without
// looking at the shared memory (its cached view): after a Pull that returned
// (0, OK), a Buffered above zero means read was called and consumed nothing;
// zero, that the ring was empty.
func (r *rxCore) Buffered() int { return int(r.avail - r.head) }

// SenderClosed reports whether the producer closed its side (there may
// still be data to drain; see Done). Safe from any goroutine.
func (r *rxCore) SenderClosed() bool {
	return r.hdr.txState.Load() == stateClosed
}

// Closed reports whether this side was closed. Safe from any goroutine.
func (r *rxCore) Closed() bool { return r.halt.Load()&haltClosed != 0 }

// Err returns the ring's sticky corruption error, or nil.
func (r *rxCore) Err() error { return r.r.Err() }

// Received returns the number of elements this side has released (the
// shared index). Safe from any goroutine while the memory is mapped.
func (r *rxCore) Received() uint64 { return r.hdr.head.Load() }

// ---- shared helpers ----

// declare moves a side's own state word from running to waiting. It
// reports false when the side must stop instead: the word holds a value
// outside the protocol, or says closed although this side did not close
// (only the peer can have written it), which is corruption. A word already
// waiting (an earlier declaration whose wakeup is still due) counts as
// declared; a word closed by this side's own Close reports false without
// corruption (the caller sees the closed side).
func declare(r *ringCore, own *atomic.Uint32, closed func() bool, name string) bool {
	if own.CompareAndSwap(stateRunning, stateWaiting) {
		return true
	}
	switch st := own.Load(); {
	case st == stateWaiting:
		return true
	case st == stateClosed && closed():
		// Our own Close (which sets the flag before the word) won the
		// race with this declaration: loaded after the word, the flag is
		// set if it was.
		return false
	case st == stateRunning:
		// The peer claimed a wakeup between our CAS and this load: try
		// once more; the caller re-checks anyway.
		return own.CompareAndSwap(stateRunning, stateWaiting) || own.Load() == stateWaiting
	default:
		r.setCorrupt(name, uint64(st), 0, uint64(stateClosed))
		return false
	}
}

// Bits of a Sender's halt word.
const (
	haltClosed uint32 = 1 << iota
	haltGone
	// haltSlow: this side publishes with sequentially consistent stores
	// (no membarrier, a race build, or a ring shared with another
	// process), so TryPut and TryGet, whose one inlined check is the
	// whole halt word, always leave the publish to Put and Get. Set
	// before the side is used, never cleared.
	haltSlow
	haltStop = haltClosed | haltGone
)

// badCount is the panic value for a callback count outside 0..max: a
// programming error, caught before anything is published. The fast paths
// call panic themselves (a call that never returns keeps nothing alive
// across it) and keep the formatting out of line.
//
//go:noinline
func badCount(what string, n, max int) string {
	return fmt.Sprintf("ring: %s returned %d, want 0..%d", what, n, max)
}
