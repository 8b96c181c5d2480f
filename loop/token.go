package loop

import "fmt"

// Tokens and the slot table.
//
// Every registration (a watched Source, a Conn, a Listener) lives in one slot
// of Loop.slots and is named by a Token = (slot index, generation). The poller
// carries the whole Token in its per-fd user data (epoll_event.data, or the
// poll backend's parallel array), so every event names the registration it was
// meant for. Freeing a slot bumps its generation; an event or a call that
// carries the old generation is then refused (events dropped, calls fail with
// ErrStaleToken), even when the same slot or fd number already serves a new
// owner. That makes Unwatch safe in the middle of a batch of events.
//
// The table is touched only by the loop goroutine. It grows by append, so a
// *slot must not be held across a call into user code (which may Watch and
// reallocate the table): re-index after every callback.
//
// Generation 0 is never handed out, so the zero Token is always invalid.

// Token names one registration on one Loop. It is comparable; the zero Token
// names nothing.
type Token struct {
	slot uint32
	gen  uint32
}

// IsZero reports whether t is the zero Token.
func (t Token) IsZero() bool { return t == Token{} }

// String formats t as "token(slot.generation)", for logs and errors.
func (t Token) String() string { return fmt.Sprintf("token(%d.%d)", t.slot, t.gen) }

// wakeToken names the loop's own waker in the poller. No slot has this index.
var wakeToken = Token{slot: ^uint32(0), gen: ^uint32(0)}

type slotKind uint8

const (
	kindFree slotKind = iota
	kindFd            // a plain fd (WatchFd)
	kindRing          // a ring source (WatchRing)
	kindConn
	kindListener
)

type slot struct {
	gen        uint32
	kind       slotKind
	queued     bool     // a Token for this slot sits in Loop.ready
	registered Interest // what the poller was told (0: not in the poller)
	interest   Interest // what the owner asked for (a ring: Readable when active)
	extra      Event    // flags to add to the next ring dispatch (EventError)
	ringPos    int32    // index in Loop.rings, -1 if not there
	fd         int
	h          Handler
	ring       RingSource // non-nil for ring sources
	edge       bool       // ring fd registered edge-triggered: no WaitClear
	conn       *Conn
	ln         *Listener
}

// alloc takes a free slot (or grows the table) and returns its Token.
func (l *Loop) alloc(kind slotKind, fd int) Token {
	var idx uint32
	if n := len(l.free); n > 0 {
		idx = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		idx = uint32(len(l.slots))
		l.slots = append(l.slots, slot{gen: 1})
	}
	s := &l.slots[idx]
	s.kind, s.fd, s.ringPos = kind, fd, -1
	return Token{slot: idx, gen: s.gen}
}

// freeSlot frees a slot whose poller registration was already removed. Its
// generation moves on, so every Token and queued event naming it goes stale.
func (l *Loop) freeSlot(idx uint32) {
	s := &l.slots[idx]
	gen := s.gen + 1
	if gen == 0 || gen == wakeToken.gen {
		gen = 1
	}
	*s = slot{gen: gen, ringPos: -1}
	l.free = append(l.free, idx)
}

// lookup validates tok and returns its slot. On a released loop every Token
// is refused with ErrClosed.
func (l *Loop) lookup(tok Token) (*slot, error) {
	if l.gone {
		return nil, ErrClosed
	}
	if tok.gen == 0 || int(tok.slot) >= len(l.slots) {
		return nil, fmt.Errorf("%w: %v", ErrUnknownToken, tok)
	}
	s := &l.slots[tok.slot]
	if s.gen != tok.gen || s.kind == kindFree {
		return nil, fmt.Errorf("%w: %v", ErrStaleToken, tok)
	}
	return s, nil
}

// live returns the slot tok names, or nil when tok went stale (used on the
// dispatch path: no error allocation).
func (l *Loop) live(tok Token) *slot {
	if int(tok.slot) >= len(l.slots) {
		return nil
	}
	s := &l.slots[tok.slot]
	if s.gen != tok.gen || s.kind == kindFree {
		return nil
	}
	return s
}
