package loop

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fdring/fdring/internal/sys"
	"golang.org/x/sys/unix"
)

// ringConsumer drains a fakeRing on the loop, checking that values arrive in
// sequence and summing them; done is closed when the producer closed and
// everything was consumed.
type ringConsumer struct {
	t    testing.TB
	l    *Loop
	r    *fakeRing
	tok  Token
	next uint64
	sum  uint64
	n    int
	bad  int
	done chan struct{}
	fin  bool
}

func (c *ringConsumer) OnEvent(tok Token, ev Event) {
	if ev != EventReady {
		c.bad++
	}
	_, done := c.r.recv(func(v uint64) {
		if v != c.next {
			c.bad++
		}
		c.next++
		c.sum += v
		c.n++
	})
	if done && !c.fin {
		c.fin = true
		if err := c.l.Unwatch(tok); err != nil {
			c.t.Error(err)
		}
		close(c.done)
	}
}

func watchRing(t testing.TB, l *Loop, r *fakeRing) *ringConsumer {
	t.Helper()
	c := &ringConsumer{t: t, l: l, r: r, done: make(chan struct{})}
	tok, err := l.WatchRing(r, c, true)
	if err != nil {
		t.Fatal(err)
	}
	c.tok = tok
	return c
}

func TestRingWokenFromGoroutine(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		for _, spin := range []time.Duration{0, 20 * time.Microsecond} {
			l := newLoop(t, append(opts, WithSpin(spin))...)
			r := newFakeRing(t, 64)
			acks := make(chan uint64, 1)
			var next uint64
			if _, err := l.WatchRing(r, HandlerFunc(func(tok Token, ev Event) {
				r.recv(func(v uint64) {
					if v != next {
						t.Errorf("got %d want %d", v, next)
					}
					next++
					acks <- v
				})
			}), true); err != nil {
				t.Fatal(err)
			}
			run := start(t, l)
			// One item at a time, each acknowledged: the loop goes to sleep
			// between items and must be woken through the ring's fd.
			const n = 200
			for i := range uint64(n) {
				if !r.send(run.ctx, i) {
					t.Fatal("send timed out")
				}
				if got := waitCh(t, acks, "ack"); got != i {
					t.Fatalf("ack %d want %d", got, i)
				}
			}
			if err := run.stop(); err != nil {
				t.Fatal(err)
			}
			st := l.Stats()
			if st.RingDispatches < n || st.PollsBlocking == 0 || st.Arms == 0 {
				t.Errorf("spin %v: stats %+v", spin, st)
			}
			if spin == 0 && (r.signals.Load() == 0 || st.Wakeups == 0) {
				t.Errorf("no wakeups through the ring fd: signals %d, stats %+v", r.signals.Load(), st)
			}
		}
	})
}

func TestManyRings(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		const rings, items = 32, 5000
		l := newLoop(t, opts...)
		cs := make([]*ringConsumer, rings)
		rs := make([]*fakeRing, rings)
		for i := range rings {
			rs[i] = newFakeRing(t, 256)
			cs[i] = watchRing(t, l, rs[i])
		}
		run := start(t, l)
		var wg sync.WaitGroup
		for i := range rings {
			wg.Go(func() {
				for v := range uint64(items) {
					if !rs[i].send(run.ctx, v) {
						t.Error("send timed out")
						return
					}
				}
				rs[i].closeSend()
			})
		}
		wg.Wait()
		for i := range rings {
			waitCh(t, cs[i].done, "ring drained")
		}
		if err := run.stop(); err != nil {
			t.Fatal(err)
		}
		const wantSum = items * (items - 1) / 2
		for i, c := range cs {
			if c.n != items || c.sum != wantSum || c.bad != 0 {
				t.Errorf("ring %d: n %d sum %d bad %d", i, c.n, c.sum, c.bad)
			}
		}
		st := l.Stats()
		if st.RingDispatches == 0 || st.Events > st.RingDispatches+uint64(rings)*items {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestRingActive: a ring's interest is on or off. On, its handler gets
// EventReady while it is Ready; off, it is not called although it stays
// Ready; Modify refuses a ring's Token. Watch with any non-zero interest
// (here Writable) registers a ring as active.
func TestRingActive(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		r := newFakeRing(t, 8)
		r.trySend(1)
		var got []Event
		tok, err := l.Watch(r, HandlerFunc(func(tok Token, ev Event) { got = append(got, ev) }), Writable)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.round(false); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != EventReady {
			t.Fatalf("events %v, want [ready]", got)
		}
		if err := l.Modify(tok, 0); !errors.Is(err, ErrSourceKind) {
			t.Fatalf("Modify(ring token) = %v, want ErrSourceKind", err)
		}
		if err := l.SetRingActive(tok, false); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := l.round(false); err != nil {
				t.Fatal(err)
			}
		}
		if len(got) != 1 {
			t.Fatalf("paused ring dispatched: %v", got)
		}
		if err := l.SetRingActive(tok, true); err != nil {
			t.Fatal(err)
		}
		if err := l.round(false); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[1] != EventReady {
			t.Fatalf("events %v, want [ready ready]", got)
		}

		// A ring registered inactive is not called until turned on.
		r2 := newFakeRing(t, 8)
		r2.trySend(1)
		calls := 0
		tok2, err := l.WatchRing(r2, HandlerFunc(func(Token, Event) { calls++ }), false)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.round(false); err != nil {
			t.Fatal(err)
		}
		if calls != 0 {
			t.Fatalf("inactive ring called %d times", calls)
		}
		if err := l.SetRingActive(tok2, true); err != nil {
			t.Fatal(err)
		}
		if err := l.round(false); err != nil {
			t.Fatal(err)
		}
		if calls != 1 {
			t.Fatalf("activated ring called %d times, want 1", calls)
		}
	})
}

// fdOnly wraps a ring but forwards only Fd: the wrapper that, registered as
// a plain fd, would never be armed and lose its wakeups.
type fdOnly struct{ r *fakeRing }

func (w fdOnly) Fd() int { return w.r.Fd() }

// TestWatchRefusesUnknownSource: Watch takes an FD or a RingSource and
// refuses, with ErrSourceKind, any other Source, such as a ring wrapper
// that forwards only Fd; a plain fd's Token is refused by SetRingActive.
func TestWatchRefusesUnknownSource(t *testing.T) {
	l := newLoop(t)
	r := newFakeRing(t, 8)
	nop := HandlerFunc(func(Token, Event) {})
	if _, err := l.Watch(fdOnly{r}, nop, Readable); !errors.Is(err, ErrSourceKind) {
		t.Fatalf("Watch(fd-only wrapper) = %v, want ErrSourceKind", err)
	}
	if _, err := l.Watch(nil, nop, Readable); err == nil {
		t.Fatal("Watch(nil) succeeded")
	}
	if _, err := l.WatchRing(nil, nop, true); err == nil {
		t.Fatal("WatchRing(nil) succeeded")
	}
	if _, err := l.WatchRing(r, nil, true); err == nil {
		t.Fatal("WatchRing with a nil handler succeeded")
	}
	if _, err := l.WatchFd(r.Fd(), nil, Readable); err == nil {
		t.Fatal("WatchFd with a nil handler succeeded")
	}
	p, err := sys.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	tok, err := l.WatchFd(p[0], nop, Readable)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetRingActive(tok, true); !errors.Is(err, ErrSourceKind) {
		t.Fatalf("SetRingActive(fd token) = %v, want ErrSourceKind", err)
	}
	if err := l.Unwatch(tok); err != nil {
		t.Fatal(err)
	}
	if _, err := l.WatchFd(-1, nop, Readable); err == nil {
		t.Fatal("WatchFd(-1) succeeded")
	}
}

// TestRingWakeFunction: WatchRing gives the ring a wake function and
// Unwatch takes it back; calling it from another goroutine makes a
// sleeping loop run a round and serve a ring whose state changed without
// a signal on its fd.
func TestRingWakeFunction(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		r := newFakeRing(t, 8)
		done := make(chan struct{})
		var tok Token
		tok, err := l.WatchRing(r, HandlerFunc(func(got Token, _ Event) {
			if _, fin := r.recv(func(uint64) {}); fin {
				if err := l.Unwatch(got); err != nil {
					t.Error(err)
				}
				close(done)
			}
		}), true)
		if err != nil {
			t.Fatal(err)
		}
		wake := r.wakeFunc()
		if wake == nil {
			t.Fatal("WatchRing did not set a wake function")
		}
		armed := make(chan struct{}, 1)
		r.afterArm = func() {
			select {
			case armed <- struct{}{}:
			default:
			}
		}
		start(t, l)
		// The loop goes to sleep once it armed the ring (or is about to:
		// the wake must work either way).
		waitCh(t, armed, "the loop arming the ring")
		// Closed without a signal (the declaration is not consumed): only
		// the wake function can make the loop look.
		r.closed.Store(true)
		wake()
		waitCh(t, done, "the closed ring's handler")
		if r.wakeFunc() != nil {
			t.Error("Unwatch left the wake function set")
		}
		_ = tok
	})
}

// TestRingWakeBetweenArmAndSleep: a ring woken (closed without a signal,
// then its wake function called) after the loop armed it but before the
// loop declared sleeping must keep the loop from blocking. Driven by hand:
// Arm itself makes the wake, right after its re-check found nothing.
func TestRingWakeBetweenArmAndSleep(t *testing.T) {
	l := newLoop(t)
	r := newFakeRing(t, 8)
	calls := 0
	if _, err := l.WatchRing(r, HandlerFunc(func(Token, Event) { calls++ }), true); err != nil {
		t.Fatal(err)
	}
	r.afterArm = func() {
		r.afterArm = nil
		r.closed.Store(true)
		r.wakeFunc()()
	}
	if msec := l.prepareSleep(); msec != 0 {
		t.Fatalf("prepareSleep = %d after a wake during Arm, want 0 (the loop would sleep on a closed ring)", msec)
	}
	l.state.Store(stateAwake)
	for range 2 {
		if err := l.round(false); err != nil {
			t.Fatal(err)
		}
	}
	if calls == 0 {
		t.Fatal("the woken ring's handler was not called")
	}
}

// TestRingEdgeTriggered: a ring whose fd is edge-triggered is never cleared
// on the epoll backend and is cleared on poll(2), and no wakeup is lost
// either way.
func TestRingEdgeTriggered(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		r := newFakeRing(t, 64)
		r.edge = true
		c := watchRing(t, l, r)
		start(t, l)
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		const items = 2000
		for i := range uint64(items) {
			if !r.send(ctx, i) {
				t.Fatal("send timed out")
			}
		}
		r.closeSend()
		waitCh(t, c.done, "the consumer")
		l.Stop()
		clears := r.clears.Load()
		edge := len(opts) == 0 && runtime.GOOS == "linux"
		if edge && clears != 0 {
			t.Errorf("edge-triggered ring cleared %d times", clears)
		}
		if !edge && r.signals.Load() > 0 && clears == 0 {
			t.Errorf("level-triggered ring signalled %d times, never cleared", r.signals.Load())
		}
	})
}

func TestPostFromManyGoroutines(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		const goroutines, each = 8, 2000
		l := newLoop(t, opts...)
		run := start(t, l)
		count := 0 // loop goroutine only
		done := make(chan struct{})
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range each {
					if err := l.Post(func() {
						count++
						if count == goroutines*each {
							close(done)
						}
					}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		waitCh(t, done, "all posts")
		if err := run.stop(); err != nil {
			t.Fatal(err)
		}
		if count != goroutines*each {
			t.Fatalf("count %d", count)
		}
		st := l.Stats()
		if st.PostsRun != goroutines*each {
			t.Errorf("PostsRun %d", st.PostsRun)
		}
		if st.Wakeups > st.PostsRun || st.Wakeups > st.PollsBlocking {
			t.Errorf("wakeups not coalesced: %+v", st)
		}
	})
}

func TestWaker(t *testing.T) {
	l := newLoop(t)
	run := start(t, l)
	var mu sync.Mutex
	runs := 0
	fired := make(chan struct{}, 1)
	w := l.NewWaker(func() {
		mu.Lock()
		runs++
		mu.Unlock()
		select {
		case fired <- struct{}{}:
		default:
		}
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 500 {
				if err := w.Wake(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	waitCh(t, fired, "waker")
	run.do(func() {}) // a round after every Wake
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs < 1 || runs > 2000 {
		t.Fatalf("runs %d", runs)
	}
	if w.pending.Load() {
		t.Fatal("wake still pending after the loop ran")
	}
}

func TestTimers(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		done := make(chan struct{})
		pending := 2 // the ordered group, the ticker check; loop goroutine only
		finish := func() {
			if pending--; pending == 0 {
				close(done)
			}
		}
		var order []int
		for _, tc := range []struct {
			id int
			d  time.Duration
		}{{3, 30 * time.Millisecond}, {1, 10 * time.Millisecond}, {2, 20 * time.Millisecond}, {0, 0}, {11, 10 * time.Millisecond}} {
			l.After(tc.d, func() {
				order = append(order, tc.id)
				if tc.id == 3 {
					finish()
				}
			})
		}
		cancelled := l.After(15*time.Millisecond, func() { t.Error("stopped timer fired") })
		if !cancelled.Stop() || cancelled.Stop() {
			t.Fatal("Stop on a pending timer must report true once")
		}
		ticks := 0
		var tick *Timer
		tick = l.Every(2*time.Millisecond, func() {
			ticks++
			if ticks < 5 {
				return
			}
			if !tick.Stop() {
				t.Error("Stop of a running Every timer reported false")
			}
			var last *Timer
			last = l.After(10*time.Millisecond, func() {
				if last.Stop() {
					t.Error("Stop of a fired timer reported true")
				}
				if ticks != 5 {
					t.Errorf("ticks %d after Stop", ticks)
				}
				finish()
			})
		})
		run := start(t, l)
		waitCh(t, done, "timers")
		if err := run.stop(); err != nil {
			t.Fatal(err)
		}
		want := []int{0, 1, 11, 2, 3}
		if len(order) != len(want) {
			t.Fatalf("order %v want %v", order, want)
		}
		for i := range want {
			if order[i] != want[i] {
				t.Fatalf("order %v want %v", order, want)
			}
		}
		if st := l.Stats(); st.TimersFired != 11 {
			t.Errorf("TimersFired %d", st.TimersFired)
		}
	})
}

func TestTimeoutRoundsUp(t *testing.T) {
	for _, tc := range []struct {
		ns   int64
		want int
	}{{-5, 0}, {0, 0}, {1, 1}, {int64(time.Millisecond), 1}, {int64(time.Millisecond) + 1, 2}, {int64(1500 * time.Microsecond), 2}, {int64(1 << 62), 1<<31 - 1}} {
		if got := roundUpMillis(tc.ns); got != tc.want {
			t.Errorf("roundUpMillis(%d) = %d, want %d", tc.ns, got, tc.want)
		}
	}
	// A sub-millisecond timer must not make the loop spin on zero timeouts.
	l := newLoop(t)
	done := make(chan struct{})
	l.After(300*time.Microsecond, func() { close(done) })
	run := start(t, l)
	waitCh(t, done, "timer")
	run.stop()
	if st := l.Stats(); st.PollsNonBlocking > 3 {
		t.Errorf("busy polling before a timer: %+v", st)
	}
}

// pipe returns a non-blocking pipe closed at cleanup (unless already closed).
func pipe(t testing.TB) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	for _, fd := range p {
		unix.SetNonblock(fd, true)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

func TestUnwatchDuringDispatch(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		// Two readable fds in one batch, each handler unwatches the other:
		// exactly one handler may run.
		ra, wa := pipe(t)
		rb, wb := pipe(t)
		unix.Write(wa, []byte{1})
		unix.Write(wb, []byte{1})
		var ta, tb Token
		calls := 0
		var err error
		ta, err = l.Watch(FD(ra), HandlerFunc(func(tok Token, _ Event) {
			calls++
			if err := l.Unwatch(tb); err != nil {
				t.Error(err)
			}
			l.Unwatch(tok)
		}), Readable)
		if err != nil {
			t.Fatal(err)
		}
		tb, err = l.Watch(FD(rb), HandlerFunc(func(tok Token, _ Event) {
			calls++
			if err := l.Unwatch(ta); err != nil {
				t.Error(err)
			}
			l.Unwatch(tok)
		}), Readable)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.round(false); err != nil {
			t.Fatal(err)
		}
		if calls != 1 {
			t.Fatalf("handlers called %d times, want 1", calls)
		}

		// A handler that unwatches itself is not called again.
		rc, wc := pipe(t)
		unix.Write(wc, []byte{1})
		self := 0
		if _, err := l.Watch(FD(rc), HandlerFunc(func(tok Token, ev Event) {
			self++
			if err := l.Unwatch(tok); err != nil {
				t.Error(err)
			}
		}), Readable); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			l.round(false)
		}
		if self != 1 {
			t.Fatalf("self-unwatching handler called %d times", self)
		}
	})
}

func TestUnwatchAndReuseInBatch(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		// Both readable; whichever handler runs first unwatches and closes
		// the other, opens a fresh readable pipe (likely the same fd number,
		// surely the same slot) and watches it. The stale event for the
		// closed one, later in the same batch, must not reach the new owner.
		var fds [2][2]int
		for i := range fds {
			fds[i][0], fds[i][1] = pipe(t)
			unix.Write(fds[i][1], []byte{1})
		}
		var toks [2]Token
		newCalls, oldCalls, replaced := 0, 0, false
		var newTok Token
		for i := range 2 {
			var err error
			toks[i], err = l.Watch(FD(fds[i][0]), HandlerFunc(func(Token, Event) {
				oldCalls++
				if replaced {
					return
				}
				replaced = true
				other := 1 - i
				if err := l.Unwatch(toks[other]); err != nil {
					t.Error(err)
				}
				unix.Close(fds[other][0])
				nr, nw := pipe(t)
				unix.Write(nw, []byte{1})
				var err error
				newTok, err = l.Watch(FD(nr), HandlerFunc(func(Token, Event) { newCalls++ }), Readable)
				if err != nil {
					t.Error(err)
				}
				if newTok.slot != toks[other].slot || newTok == toks[other] {
					t.Errorf("slot not reused with a new generation: old %v new %v", toks[other], newTok)
				}
			}), Readable)
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := l.round(false); err != nil {
			t.Fatal(err)
		}
		if oldCalls != 1 || newCalls != 0 {
			t.Fatalf("old %d new %d after the first round, want 1 and 0", oldCalls, newCalls)
		}
		if err := l.round(false); err != nil {
			t.Fatal(err)
		}
		if newCalls != 1 {
			t.Fatalf("new handler called %d times in the second round", newCalls)
		}
	})
}

func TestUnwatchLaterRingInBatch(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		ra, rb := newFakeRing(t, 8), newFakeRing(t, 8)
		ra.trySend(1)
		rb.trySend(1)
		var ta, tb Token
		calls := 0
		// Rings stay Ready (nobody consumes), so each handler also unwatches
		// itself, as a handler that stops consuming must.
		ta, _ = l.WatchRing(ra, HandlerFunc(func(tok Token, _ Event) { calls++; l.Unwatch(tb); l.Unwatch(tok) }), true)
		tb, _ = l.WatchRing(rb, HandlerFunc(func(tok Token, _ Event) { calls++; l.Unwatch(ta); l.Unwatch(tok) }), true)
		for range 3 {
			l.round(false)
		}
		if calls != 1 {
			t.Fatalf("ring handlers called %d times, want 1", calls)
		}
	})
}

func TestTokenReuse(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		var p [2]int
		if err := unix.Pipe(p[:]); err != nil {
			t.Fatal(err)
		}
		h := HandlerFunc(func(Token, Event) {})
		old, err := l.Watch(FD(p[0]), h, Readable)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Unwatch(old); err != nil {
			t.Fatal(err)
		}
		unix.Close(p[0])
		unix.Close(p[1])
		nr, _ := pipe(t)
		if nr != p[0] {
			t.Logf("fd number not reused (%d vs %d); slot reuse still tested", nr, p[0])
		}
		cur, err := l.Watch(FD(nr), h, Readable)
		if err != nil {
			t.Fatal(err)
		}
		if cur.slot != old.slot || cur == old {
			t.Fatalf("old %v new %v", old, cur)
		}
		if err := l.Modify(old, Writable); !errors.Is(err, ErrStaleToken) {
			t.Fatalf("Modify(stale) = %v", err)
		}
		if err := l.Unwatch(old); !errors.Is(err, ErrStaleToken) {
			t.Fatalf("Unwatch(stale) = %v", err)
		}
		if err := l.Unwatch(Token{}); !errors.Is(err, ErrUnknownToken) {
			t.Fatalf("Unwatch(zero) = %v", err)
		}
		if err := l.Modify(Token{slot: 99, gen: 1}, Readable); !errors.Is(err, ErrUnknownToken) {
			t.Fatalf("Modify(unknown) = %v", err)
		}
		if err := l.Modify(cur, Readable|Writable); err != nil {
			t.Fatalf("Modify(current) = %v", err)
		}
		// Watching the same fd twice is an error, not a panic.
		if _, err := l.Watch(FD(nr), h, Readable); err == nil {
			t.Fatal("double Watch of one fd succeeded")
		}
	})
}

func TestStopAndLifecycle(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		// Stop from an fd handler.
		l := newLoop(t, opts...)
		r, w := pipe(t)
		if _, err := l.Watch(FD(r), HandlerFunc(func(tok Token, _ Event) {
			l.Unwatch(tok) // the pipe stays readable
			l.Stop()
		}), Readable); err != nil {
			t.Fatal(err)
		}
		run := start(t, l)
		unix.Write(w, []byte{1})
		if err := run.wait(); err != nil {
			t.Fatalf("Run after Stop from handler = %v", err)
		}

		// Run again, ask for a second concurrent Run from inside, stop from a Post.
		run = start(t, l)
		errc := make(chan error, 1)
		run.do(func() { errc <- l.Run(context.Background()) })
		if err := <-errc; !errors.Is(err, ErrRunning) {
			t.Fatalf("nested Run = %v", err)
		}
		if err := l.Post(l.Stop); err != nil {
			t.Fatal(err)
		}
		if err := run.wait(); err != nil {
			t.Fatal(err)
		}

		// Context cancellation.
		ctx, cancel := context.WithCancel(context.Background())
		errc2 := make(chan error, 1)
		go func() { errc2 <- l.Run(ctx) }()
		cancel()
		if err := waitCh(t, errc2, "Run after cancel"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run after cancel = %v", err)
		}

		// Close: idempotent, then everything reports ErrClosed.
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Run(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Run after Close = %v", err)
		}
		if err := l.Post(func() {}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Post after Close = %v", err)
		}
		if _, err := l.Watch(FD(r), HandlerFunc(func(Token, Event) {}), Readable); !errors.Is(err, ErrClosed) {
			t.Fatalf("Watch after Close = %v", err)
		}
	})
}

func TestCloseWhileRunning(t *testing.T) {
	l := newLoop(t)
	run := start(t, l)
	run.do(func() {})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := run.wait(); err != nil {
		t.Fatal(err)
	}
	if err := l.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close = %v", err)
	}
}

func TestZeroAllocRingRound(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		const rings = 8
		l := newLoop(t, opts...)
		rs := make([]*fakeRing, rings)
		got := 0
		for i := range rings {
			rs[i] = newFakeRing(t, 64)
			r := rs[i]
			if _, err := l.WatchRing(r, HandlerFunc(func(Token, Event) {
				n, _ := r.recv(func(uint64) {})
				got += n
			}), true); err != nil {
				t.Fatal(err)
			}
		}
		round := func() {
			for _, r := range rs {
				r.sendBatch(0, 16)
			}
			if err := l.round(false); err != nil {
				t.Fatal(err)
			}
		}
		round() // warm up: buffers reach their size
		if a := testing.AllocsPerRun(200, round); a != 0 {
			t.Fatalf("%v allocations per ring round", a)
		}
		if got != 202*rings*16 { // warm-up, AllocsPerRun's own warm-up, 200 runs
			t.Fatalf("consumed %d", got)
		}
	})
}

func TestEventString(t *testing.T) {
	if s := (EventReadable | EventHangup).String(); s != "readable|hangup" {
		t.Error(s)
	}
	if s := (EventReady | EventError).String(); s != "error|ready" {
		t.Error(s)
	}
	if s := (Readable | Writable).String(); s != "readable|writable" {
		t.Error(s)
	}
	if s := (Token{slot: 3, gen: 7}).String(); s != "token(3.7)" {
		t.Error(s)
	}
}
