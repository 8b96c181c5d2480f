package handlers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/handlers"
)

type item struct {
	Ring uint32
	_    uint32
	Seq  uint64
}

// TestConsumeManyRings: 16 producer goroutines, one loop consuming all,
// every item checked, OnDone once per ring, the per-dispatch bound held.
func TestConsumeManyRings(t *testing.T) {
	const (
		rings    = 16
		items    = 50_000
		maxItems = 1000
	)
	l := newLoop(t)
	type done struct {
		ring int
		err  error
	}
	doneCh := make(chan done, 2*rings)
	consumers := make([]*handlers.Consumer[item], rings)
	senders := make([]*fdring.Sender[item], rings)
	next := make([]uint64, rings)     // loop goroutine only
	overrun := make([]bool, rings)    // loop goroutine only
	mismatch := make([]string, rings) // loop goroutine only
	for r := range rings {
		tx, rx, err := fdring.New[item](1024)
		if err != nil {
			t.Fatal(err)
		}
		senders[r] = tx
		fn := func(data []item) int {
			if len(data) > maxItems {
				overrun[r] = true
			}
			for _, it := range data {
				if (it.Ring != uint32(r) || it.Seq != next[r]) && mismatch[r] == "" {
					mismatch[r] = fmt.Sprintf("ring %d: got item (%d, %d), want (%d, %d)", r, it.Ring, it.Seq, r, next[r])
				}
				next[r]++
			}
			return len(data)
		}
		c, err := handlers.Consume(l, rx, fn,
			handlers.WithMaxItems(maxItems),
			handlers.OnDone(func(err error) {
				rx.Close()
				doneCh <- done{r, err}
			}))
		if err != nil {
			t.Fatal(err)
		}
		consumers[r] = c
	}
	startLoop(t, l)

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, rings)
	for r, tx := range senders {
		wg.Go(func() {
			defer tx.Close()
			seq := uint64(0)
			for seq < items {
				_, err := tx.SendWait(ctx, func(free []item) int {
					n := min(len(free), int(items-seq), 1+int(seq%97))
					for i := range free[:n] {
						free[i] = item{Ring: uint32(r), Seq: seq}
						seq++
					}
					return n
				})
				if err != nil {
					errs <- fmt.Errorf("ring %d: send: %w", r, err)
					return
				}
			}
		})
	}
	seen := make(map[int]bool)
	for range rings {
		d := recv(t, doneCh, "OnDone")
		if seen[d.ring] {
			t.Errorf("ring %d: OnDone called twice", d.ring)
		}
		seen[d.ring] = true
		if d.err != nil {
			t.Errorf("ring %d: OnDone(%v), want nil", d.ring, d.err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The loop goroutine wrote next, overrun and mismatch; read them there.
	check := make(chan struct{})
	l.Post(func() {
		defer close(check)
		for r := range rings {
			if next[r] != items {
				t.Errorf("ring %d: consumed %d items, want %d", r, next[r], items)
			}
			if overrun[r] {
				t.Errorf("ring %d: fn got more than %d items at once", r, maxItems)
			}
			if mismatch[r] != "" {
				t.Error(mismatch[r])
			}
		}
	})
	recv(t, check, "the check on the loop")
	select {
	case d := <-doneCh:
		t.Errorf("extra OnDone for ring %d", d.ring)
	default:
	}
	for r, c := range consumers {
		st := c.Stats()
		if st.Items != items || st.MaxPerRound > maxItems || st.MaxPerRound == 0 {
			t.Errorf("ring %d: stats %+v: want %d items, at most %d per dispatch", r, st, items, maxItems)
		}
	}
}

// TestConsumeBounds: a dispatch stops at the call bound, at the item bound,
// and as soon as fn takes less than it was offered.
func TestConsumeBounds(t *testing.T) {
	cases := []struct {
		name      string
		opts      []handlers.ConsumeOption
		take      int // elements fn takes per call at most
		wantCalls uint64
		wantItems uint64
	}{
		{"calls", []handlers.ConsumeOption{handlers.WithMaxCalls(1)}, 64, 1, 24},
		{"items", []handlers.ConsumeOption{handlers.WithMaxItems(5)}, 64, 1, 5},
		{"short", nil, 1, 1, 1},
		{"maxcalls", []handlers.ConsumeOption{handlers.WithMaxCalls(3)}, 64, 2, 64},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLoop(t)
			defer l.Close()
			tx, rx, err := fdring.New[uint64](64)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Close()
			defer rx.Close()
			c, err := handlers.Consume(l, rx, func(data []uint64) int {
				return min(len(data), tc.take)
			}, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Stop()
			// Wrap the ring so the data comes in two contiguous parts.
			fill := func(free []uint64) int { return len(free) }
			if _, err := tx.Send(func(free []uint64) int { return 40 }); err != nil {
				t.Fatal(err)
			}
			if _, err := rx.Recv(func(data []uint64) int { return len(data) }); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := tx.Send(fill); err != nil {
					t.Fatal(err)
				}
			}
			c.ServeOnce()
			if st := c.Stats(); st.Calls != tc.wantCalls || st.Items != tc.wantItems {
				t.Errorf("stats %+v, want %d calls and %d items", st, tc.wantCalls, tc.wantItems)
			}
		})
	}
}

// TestConsumeNoAllocs: a dispatch that consumes data allocates nothing.
func TestConsumeNoAllocs(t *testing.T) {
	l := newLoop(t)
	defer l.Close()
	tx, rx, err := fdring.New[uint64](256)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	defer rx.Close()
	var sum uint64
	c, err := handlers.Consume(l, rx, func(data []uint64) int {
		for _, v := range data {
			sum += v
		}
		return len(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	seq := uint64(0)
	fill := func(free []uint64) int {
		n := min(len(free), 100)
		for i := range free[:n] {
			free[i] = seq
			seq++
		}
		return n
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := tx.Send(fill); err != nil {
			t.Fatal(err)
		}
		c.ServeOnce()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per dispatch, want 0", allocs)
	}
	if want := seq * (seq - 1) / 2; sum != want {
		t.Errorf("sum %d, want %d", sum, want)
	}
}
