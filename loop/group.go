package loop

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// Groups.
//
// A Group is N loops, each run by Group.Run on its own goroutine locked to
// its own OS thread. A Group's listener lives on loop 0: loop 0 accepts, the
// balancer picks a loop, and the fd is queued on that loop like a Post
// (handOver). The target is counted at once, so least-connections sees
// hand-offs still in flight. This balances exactly (round-robin or
// least-connections), which SO_REUSEPORT's hash does not. The balancer state
// is touched only on loop 0's goroutine; the connection counts it reads are
// atomics.

// Balance chooses the loop for each accepted connection.
type Balance uint8

const (
	// RoundRobin hands connections to the loops in turn.
	RoundRobin Balance = iota
	// LeastConns hands each connection to the loop with the fewest open
	// connections (the lowest index on a tie).
	LeastConns
)

// Group is a set of loops serving shared listeners.
type Group struct {
	loops   []*Loop
	balance Balance
	next    int // round-robin cursor; loop 0's goroutine only
}

// NewGroup creates n loops (n <= 0 means runtime.GOMAXPROCS(0)) with opts.
func NewGroup(n int, opts ...Option) (*Group, error) {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	g := &Group{balance: cfg.balance}
	for range n {
		l, err := New(opts...)
		if err != nil {
			g.Close()
			return nil, err
		}
		g.loops = append(g.loops, l)
	}
	return g, nil
}

// Loops returns the group's loops (do not modify the slice).
func (g *Group) Loops() []*Loop { return g.loops }

// Listen opens a listener on loop 0 whose connections are spread over all
// loops, each served with h. Call it before Run, or from loop 0's goroutine.
func (g *Group) Listen(network, address string, h ConnHandler) (*Listener, error) {
	return g.loops[0].listen(network, address, h, func(fd int) { g.handoff(fd, h) })
}

// handoff runs on loop 0's goroutine.
func (g *Group) handoff(fd int, h ConnHandler) {
	t := g.pick()
	t.nconns.Add(1)
	if t == g.loops[0] {
		// On failure adopt closed fd; the client sees the reset.
		_, _ = t.adopt(fd, h)
		return
	}
	if err := t.handOver(fd, h); err != nil {
		unix.Close(fd)
		t.nconns.Add(-1)
	}
}

// handoff is an accepted fd on its way to the loop that will serve it.
type handoff struct {
	fd int
	h  ConnHandler
}

// handOver queues an accepted fd (already counted in nconns) for l, like a
// Post: l adopts it in its next round. Any goroutine. Unlike a posted
// closure, a queued fd is closed, not leaked, if l is closed first.
func (l *Loop) handOver(fd int, h ConnHandler) error {
	l.postMu.Lock()
	if l.postClosed {
		l.postMu.Unlock()
		return fmt.Errorf("loop: hand over: %w", ErrClosed)
	}
	l.incoming = append(l.incoming, handoff{fd: fd, h: h})
	l.postMu.Unlock()
	l.postPending.Store(true)
	l.wakeup()
	return nil
}

func (g *Group) pick() *Loop {
	if g.balance == LeastConns {
		best := g.loops[0]
		for _, l := range g.loops[1:] {
			if l.nconns.Load() < best.nconns.Load() {
				best = l
			}
		}
		return best
	}
	l := g.loops[g.next]
	g.next = (g.next + 1) % len(g.loops)
	return l
}

// Run runs every loop on its own locked OS thread until ctx ends (returns
// ctx.Err()), Stop is called (returns nil) or a loop fails (returns its
// error, after stopping the others).
func (g *Group) Run(ctx context.Context) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(g.loops))
	var wg sync.WaitGroup
	for i, l := range g.loops {
		wg.Go(func() {
			errs[i] = l.Run(cctx)
			cancel()
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("loop: group: %w", err)
		}
	}
	return nil
}

// Stop makes Run return nil. Safe from any goroutine.
func (g *Group) Stop() {
	for _, l := range g.loops {
		l.Stop()
	}
}

// Close closes every loop. Idempotent; safe from any goroutine.
func (g *Group) Close() error {
	var errs []error
	for _, l := range g.loops {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}
