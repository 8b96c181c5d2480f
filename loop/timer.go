package loop

import (
	"container/heap"
	"math"
	"time"
)

// Timers.
//
// Timers live in a min-heap ordered by (deadline, creation sequence), owned by
// the loop goroutine: After, Every and Timer.Stop must be called on the loop
// goroutine (from a handler, a Post function or a timer callback), or while
// the loop is not running. From elsewhere, Post a function that calls them.
//
// The earliest deadline becomes the poller timeout, rounded UP to the next
// millisecond, so the loop never wakes early and spins on a zero timeout;
// only a timer already due gives a zero timeout. Each round fires the timers
// that were due when the round looked at the clock, in deadline order; a
// timer created or rescheduled for "now" by a callback fires next round, so
// one round is bounded. Deadlines saturate (addDeadline): a duration too
// long for the clock means never.
//
// A closed loop runs no timers. Loop.release marks every timer unscheduled
// (index -1) before it drops the heap, and schedule on a released loop
// hands back an unscheduled Timer, so Stop after Close reports false and
// never touches the released heap.

// Timer is a pending callback created by After or Every.
type Timer struct {
	when   int64 // deadline, nanoseconds since Loop.base
	period int64 // > 0 for Every
	seq    uint64
	index  int // position in the heap, -1 when not scheduled
	l      *Loop
	f      func()
}

// After calls f once on the loop goroutine, d from now. Loop goroutine only.
// On a closed loop it returns a Timer that never fires.
func (l *Loop) After(d time.Duration, f func()) *Timer {
	if f == nil {
		panic("loop: After with nil func")
	}
	return l.schedule(d, 0, f)
}

// Every calls f on the loop goroutine every d, starting d from now, until
// stopped. Ticks a busy loop missed are dropped, not bunched. d must be
// positive. Loop goroutine only. On a closed loop it returns a Timer that
// never fires.
func (l *Loop) Every(d time.Duration, f func()) *Timer {
	if f == nil {
		panic("loop: Every with nil func")
	}
	if d <= 0 {
		panic("loop: Every with non-positive period")
	}
	return l.schedule(d, int64(d), f)
}

func (l *Loop) schedule(d time.Duration, period int64, f func()) *Timer {
	t := &Timer{period: period, index: -1, l: l, f: f}
	if l.gone {
		return t
	}
	l.timerSeq++
	t.when, t.seq = addDeadline(l.nanotime(), int64(max(d, 0))), l.timerSeq
	heap.Push(&l.timers, t)
	return t
}

// Stop cancels the timer. It reports whether the timer was pending, that is
// whether Stop prevented a call (for Every: any further call). Stopping from
// inside the timer's own callback works. After the loop was closed it does
// nothing and reports false (a closed loop runs no timers). Loop goroutine
// only (or while the loop is not running).
func (t *Timer) Stop() bool {
	if t == nil || t.index < 0 {
		return false
	}
	h := &t.l.timers
	if t.index >= len(*h) || (*h)[t.index] != t {
		return false // not in this heap: cannot happen while index is kept right
	}
	heap.Remove(h, t.index)
	return true
}

// dropTimers unschedules every timer (Loop.release).
func (l *Loop) dropTimers() {
	for _, t := range l.timers {
		t.index = -1
	}
	l.timers = nil
}

func (l *Loop) nanotime() int64 { return int64(time.Since(l.base)) }

// addDeadline returns at+d for at, d >= 0, saturated: a deadline beyond the
// clock's range is "never" (math.MaxInt64, which now never reaches), not a
// wrapped-around past that is due at once.
func addDeadline(at, d int64) int64 {
	if d > math.MaxInt64-at {
		return math.MaxInt64
	}
	return at + d
}

// timerTimeout returns the poll timeout the timers allow: -1 for none, 0 when
// one is due, else the distance to the earliest, in milliseconds rounded up.
func (l *Loop) timerTimeout() int {
	if len(l.timers) == 0 {
		return -1
	}
	return roundUpMillis(l.timers[0].when - l.nanotime())
}

// roundUpMillis converts a wait in nanoseconds to a poll timeout: zero only
// when nothing is left to wait, otherwise at least one millisecond.
func roundUpMillis(ns int64) int {
	if ns <= 0 {
		return 0
	}
	ms := ns / int64(time.Millisecond) // no ns+999999: it would wrap near MaxInt64
	if ns%int64(time.Millisecond) != 0 {
		ms++
	}
	if ms > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(ms)
}

// runTimers fires the timers due now.
func (l *Loop) runTimers() {
	now := l.nanotime()
	for len(l.timers) > 0 {
		t := l.timers[0]
		if t.when > now {
			return
		}
		if t.period > 0 {
			t.when = addDeadline(t.when, t.period)
			if t.when <= now {
				t.when = addDeadline(now, t.period)
			}
			heap.Fix(&l.timers, 0)
		} else {
			heap.Pop(&l.timers)
		}
		l.counts.local[cTimersFired]++
		t.f()
		l.afterCallback()
	}
}

// timerHeap implements heap.Interface.
type timerHeap []*Timer

func (h timerHeap) Len() int { return len(h) }

func (h timerHeap) Less(i, j int) bool {
	if h[i].when != h[j].when {
		return h[i].when < h[j].when
	}
	return h[i].seq < h[j].seq
}

func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *timerHeap) Pop() any {
	old := *h
	n := len(old) - 1
	t := old[n]
	old[n] = nil
	t.index = -1
	*h = old[:n]
	return t
}
