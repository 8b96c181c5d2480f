package main

// bare: the ring suite's REFERENCE CEILING, not something to use. A naive
// two-index single-producer single-consumer ring of uint64, with the same
// callback shape as fdring's Send/Recv: each side owns one index (producer
// tail, consumer head) on its own 128-byte line, publishes it with
// atomic.Store after every call, keeps a cached copy of the peer's index
// and reloads it (atomic.Load) only when the cache says full or empty.
// That is all: no wakeup fds, no waiting flags, no close, no validation of
// the peer's index. An empty or full side cannot sleep; it busy-polls,
// yielding with runtime.Gosched between polls. So it shows how fast a ring
// goes when nobody ever sleeps, which fdring's SendWait/RecvWait trade a
// little of for sleeping on an fd when idle.

import "sync/atomic"

type bareRing struct {
	head atomic.Uint64 // next element to read: written by the consumer only
	_    [120]byte
	tail atomic.Uint64 // next element to write: written by the producer only
	_    [120]byte
	buf  []uint64 // len is a power of two
}

// bareSender and bareReceiver are the two sides: own index, cached peer's.
type bareSender struct {
	r          *bareRing
	tail, head uint64
}

type bareReceiver struct {
	r          *bareRing
	head, tail uint64
}

func newBare(capacity int) (*bareSender, *bareReceiver) {
	r := &bareRing{buf: make([]uint64, capacity)}
	return &bareSender{r: r}, &bareReceiver{r: r}
}

// send calls fill with the contiguous free slots and publishes what it
// wrote; 0 when full.
func (s *bareSender) send(fill func(free []uint64) int) int {
	c := uint64(len(s.r.buf))
	if s.tail-s.head == c {
		if s.head = s.r.head.Load(); s.tail-s.head == c {
			return 0
		}
	}
	i := s.tail & (c - 1)
	n := fill(s.r.buf[i:min(c, i+c-(s.tail-s.head))])
	s.tail += uint64(n)
	s.r.tail.Store(s.tail)
	return n
}

// recv calls read with the contiguous readable slots and releases what it
// consumed; 0 when empty.
func (r *bareReceiver) recv(read func(data []uint64) int) int {
	c := uint64(len(r.r.buf))
	if r.head == r.tail {
		if r.tail = r.r.tail.Load(); r.head == r.tail {
			return 0
		}
	}
	i := r.head & (c - 1)
	n := read(r.r.buf[i:min(c, i+r.tail-r.head)])
	r.head += uint64(n)
	r.r.head.Store(r.head)
	return n
}
