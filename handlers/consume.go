package handlers

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/loop"
)

// Ring consumer.
//
// A Consumer is the loop-side reader of one fdring Receiver. The loop calls
// its serve method whenever the ring is Ready (data, or an end to observe). Each call
// runs Recv repeatedly, handing fn slices of ring memory, until the ring is
// empty, fn takes less than it was offered, or the round's budget is spent:
// at most MaxItems elements and MaxCalls calls of fn. A ring with more work
// is served again next round, after the loop's other sources had their turn.
//
// Per dispatch nothing is allocated: the closure passed to Recv is built
// once, in Consume, and the counters are plain atomics.

// Defaults of the per-dispatch budget.
const (
	DefaultMaxItems = 64 << 10 // elements per dispatch
	DefaultMaxCalls = 16       // calls of fn per dispatch
)

// ConsumeOption configures Consume.
type ConsumeOption func(*consumeConfig)

type consumeConfig struct {
	maxItems int
	maxCalls int
	onDone   func(error)
}

// WithMaxItems bounds how many elements one dispatch hands to fn (default
// DefaultMaxItems). n <= 0 keeps the default.
func WithMaxItems(n int) ConsumeOption {
	return func(c *consumeConfig) {
		if n > 0 {
			c.maxItems = n
		}
	}
}

// WithMaxCalls bounds how many times one dispatch calls fn (default
// DefaultMaxCalls). A ring that wraps needs two calls to hand out all its
// data. n <= 0 keeps the default.
func WithMaxCalls(n int) ConsumeOption {
	return func(c *consumeConfig) {
		if n > 0 {
			c.maxCalls = n
		}
	}
}

// OnDone sets the function called once, on the loop goroutine, when the
// stream ends: nil for a clean end (the sender closed and everything was
// consumed: io.EOF), otherwise the Receiver's error (errors.Is-able as
// fdring.ErrPeerGone, fdring.ErrCorrupt or fdring.ErrClosed). The Receiver
// is already unwatched, so OnDone may Close it. Stop does not call it.
func OnDone(f func(err error)) ConsumeOption {
	return func(c *consumeConfig) { c.onDone = f }
}

// ConsumerStats are a Consumer's counters.
type ConsumerStats struct {
	Dispatches  uint64 // calls by the loop (the ring was Ready)
	Items       uint64 // elements fn consumed
	Calls       uint64 // calls of fn
	MaxPerRound uint64 // the most elements one dispatch consumed
}

// Consumer drains one Receiver on a loop. See Consume.
type Consumer[T any] struct {
	l      *loop.Loop
	rx     *fdring.Receiver[T]
	tok    loop.Token
	fn     func([]T) int
	read   func([]T) int // built once: Recv's callback, no allocation per call
	cfg    consumeConfig
	budget int  // elements fn may still take this dispatch
	short  bool // fn took less than it was offered
	done   bool

	dispatches, items, calls, maxRound atomic.Uint64
}

// Consume watches rx on l and calls fn with ring memory whenever data is
// there: fn gets the largest contiguous readable slice (never empty, at most
// the dispatch's remaining budget) and returns how many elements it consumed;
// the slice is valid only during the call. Returning less than len(data)
// ends the dispatch (the rest stays in the ring; the loop offers it again
// next round, so a consumer that cannot take more should Pause). A count
// outside 0..len(data) panics: a programming error.
//
// When the stream ends Consume unwatches rx and calls OnDone. Loop goroutine
// only (or while l is not running).
func Consume[T any](l *loop.Loop, rx *fdring.Receiver[T], fn func(data []T) int, opts ...ConsumeOption) (*Consumer[T], error) {
	if l == nil || rx == nil || fn == nil {
		return nil, errors.New("handlers: consume: nil loop, receiver or function")
	}
	cfg := consumeConfig{maxItems: DefaultMaxItems, maxCalls: DefaultMaxCalls}
	for _, o := range opts {
		o(&cfg)
	}
	c := &Consumer[T]{l: l, rx: rx, fn: fn, cfg: cfg}
	c.read = c.readFn
	tok, err := l.WatchRing(rx, loop.HandlerFunc(c.serve), true)
	if err != nil {
		return nil, fmt.Errorf("handlers: consume: %w", err)
	}
	c.tok = tok
	return c, nil
}

func (c *Consumer[T]) readFn(data []T) int {
	if len(data) > c.budget {
		data = data[:c.budget]
	}
	n := c.fn(data)
	if n < 0 || n > len(data) {
		panic(fmt.Sprintf("handlers: consume function returned %d for %d elements", n, len(data)))
	}
	c.short = n < len(data)
	return n
}

// serve is one dispatch of the loop (the handler rx is watched with): it
// drains up to the budget. An EventError (the wakeup fd failed to clear)
// is not terminal: the ring reports any end of the stream through Recv.
func (c *Consumer[T]) serve(loop.Token, loop.Event) {
	if c.done {
		return
	}
	c.dispatches.Add(1)
	c.budget = c.cfg.maxItems
	got, calls := 0, 0
	for calls < c.cfg.maxCalls && c.budget > 0 {
		c.short = false
		n, err := c.rx.Recv(c.read)
		if n > 0 || c.short {
			calls++
		}
		got += n
		c.budget -= n
		if err != nil {
			c.account(got, calls)
			c.finish(err)
			return
		}
		if n == 0 || c.short {
			break
		}
	}
	c.account(got, calls)
}

func (c *Consumer[T]) account(got, calls int) {
	if got > 0 {
		c.items.Add(uint64(got))
		if uint64(got) > c.maxRound.Load() {
			c.maxRound.Store(uint64(got))
		}
	}
	if calls > 0 {
		c.calls.Add(uint64(calls))
	}
}

func (c *Consumer[T]) finish(err error) {
	c.done = true
	// The registration is live (done was false); an error here leaves
	// nothing to undo.
	_ = c.l.Unwatch(c.tok)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if c.cfg.onDone != nil {
		c.cfg.onDone(err)
	}
}

// Token returns the Token rx is watched with.
func (c *Consumer[T]) Token() loop.Token { return c.tok }

// Pause stops the dispatches until Resume (the ring keeps its data; its
// producer fills it and then waits). Loop goroutine only.
func (c *Consumer[T]) Pause() error {
	if c.done {
		return nil
	}
	return c.l.SetRingActive(c.tok, false)
}

// Resume undoes Pause. Loop goroutine only.
func (c *Consumer[T]) Resume() error {
	if c.done {
		return nil
	}
	return c.l.SetRingActive(c.tok, true)
}

// Stop unwatches the Receiver without calling OnDone. Idempotent. Loop
// goroutine only.
func (c *Consumer[T]) Stop() error {
	if c.done {
		return nil
	}
	c.done = true
	return c.l.Unwatch(c.tok)
}

// Stats returns the Consumer's counters. Safe from any goroutine.
func (c *Consumer[T]) Stats() ConsumerStats {
	return ConsumerStats{
		Dispatches:  c.dispatches.Load(),
		Items:       c.items.Load(),
		Calls:       c.calls.Load(),
		MaxPerRound: c.maxRound.Load(),
	}
}
