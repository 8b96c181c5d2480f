package loop

import "time"

// Ring sources.
//
// The loop keeps, on its goroutine only:
//
//	rings  the slots of active ring sources (slot.ringPos
//	       indexes back into it, for O(1) removal);
//	ready  Tokens of rings to dispatch next, each at most once (slot.queued).
//
// A ring gets into ready when its fd fires (after WaitClear), when Arm or
// Ready reports work, or when it is watched with work already there. Each
// round dispatches the ready rings once, then asks every watched ring for
// Ready, so a ring that still has work after its handler, or got work while
// the loop was busy and had not armed it, is served next round with no
// wakeup and no syscall. A queued Token carries the generation, so a ring
// unwatched (or unwatched and its slot reused) after being queued is skipped.
//
// Sleeping is the ring protocol's other half: only when nothing is ready does
// the loop spin (WithSpin) and then Arm every ring. Arm is "declare waiting,
// then re-check", the producer's "publish, then check waiting" pairs with it
// (both sequentially consistent), so either Arm sees the work or the
// producer sees the declaration and writes the fd: no wakeup is lost.

// queue adds ring slot idx to the ready list (at most once).
func (l *Loop) queue(idx uint32) {
	s := &l.slots[idx]
	if !s.queued {
		s.queued = true
		l.ready = append(l.ready, Token{slot: idx, gen: s.gen})
	}
}

// spin polls the rings' Ready (and the cross-goroutine flags) for up to the
// spin budget and reports whether it found work.
func (l *Loop) spin() bool {
	start := time.Now()
	for i := 1; ; i++ {
		l.scanRings()
		if len(l.ready) > 0 || l.mustWake() {
			return true
		}
		// Reading the clock costs more than a scan of a few rings.
		if i%32 == 0 && time.Since(start) >= l.cfg.spin {
			return false
		}
	}
}

// armRings declares the loop asleep on every active ring. A ring that
// already has work is queued, and then the loop must not block.
func (l *Loop) armRings() bool {
	found := false
	for _, idx := range l.rings {
		s := &l.slots[idx]
		l.counts.local[cArms]++
		if s.ring.Arm() {
			l.queue(idx)
			found = true
		}
	}
	return found
}

// scanRings queues every ring that reports work.
func (l *Loop) scanRings() {
	for _, idx := range l.rings {
		s := &l.slots[idx]
		if !s.queued && s.ring.Ready() {
			s.queued = true
			l.ready = append(l.ready, Token{slot: idx, gen: s.gen})
		}
	}
}

// runRings calls the handler of every queued ring once.
func (l *Loop) runRings() {
	if len(l.ready) == 0 {
		return
	}
	batch := l.ready
	l.ready = l.spare[:0]
	for _, tok := range batch {
		s := l.live(tok)
		if s == nil {
			continue
		}
		s.queued = false
		if s.interest == 0 {
			continue
		}
		ev := EventReady | s.extra
		s.extra = 0
		l.counts.local[cRingDispatches]++
		s.h.OnEvent(tok, ev)
		l.afterCallback()
	}
	l.spare = batch[:0]
}
