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
// balancer picks a loop (Group.distribute), and the fd is queued on that
// loop like a Post (Loop.enqueueConn) as a pendingConn. The target is
// counted at once, so least-connections sees connections still queued. This balances exactly (round-robin or
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

// Stopping. Group.Stop stops every loop. A Stop made while Group.Run runs
// is for that Run: Run's loops return at different times (one returns, the
// others see the shared context cancelled), so a Stop may reach a loop that
// has already returned, where it would stay set for that loop's next Run.
// mu orders Stop against the end of Run: Run, once all its loops returned,
// drops whatever Stop request is left on them, under mu. A Stop made while
// no Group.Run runs is for the next one, as Loop.Stop is.
//
// Lock order: Group.mu, then the loops' locks.

// Group is a set of loops serving shared listeners.
type Group struct {
	loops   []*Loop
	balance Balance
	next    int // round-robin cursor; loop 0's goroutine only

	mu      sync.Mutex // guards running; held by Stop and by Run's start and end
	running bool

	loopReturned func(i int) // test hook: loop i's Run returned inside Group.Run
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
	return g.loops[0].listen(network, address, h, func(fd int) { g.distribute(fd, h) })
}

// distribute gives an accepted fd to the loop the balancer picks: loop 0
// adopts it at once, another loop gets it queued. Loop 0's goroutine only.
func (g *Group) distribute(fd int, h ConnHandler) {
	t := g.pick()
	t.nconns.Add(1)
	if t == g.loops[0] {
		// On failure adopt closed fd; the client sees the reset.
		_, _ = t.adopt(fd, h)
		return
	}
	if err := t.enqueueConn(fd, h); err != nil {
		unix.Close(fd)
		t.nconns.Add(-1)
	}
}

// pendingConn is an accepted fd queued for the loop that will serve it.
type pendingConn struct {
	fd int
	h  ConnHandler
}

// enqueueConn queues an accepted fd (already counted in nconns) for l,
// like a Post: l adopts it in its next round. Any goroutine. Unlike a
// posted closure, a queued fd is closed, not leaked, if l is closed first.
func (l *Loop) enqueueConn(fd int, h ConnHandler) error {
	l.postMu.Lock()
	if l.postClosed {
		l.postMu.Unlock()
		return fmt.Errorf("loop: queue conn: %w", ErrClosed)
	}
	l.incoming = append(l.incoming, pendingConn{fd: fd, h: h})
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
// error, after stopping the others). It fails with ErrRunning while another
// Run of the group runs.
func (g *Group) Run(ctx context.Context) error {
	g.mu.Lock()
	if g.running {
		g.mu.Unlock()
		return fmt.Errorf("loop: group: %w", ErrRunning)
	}
	g.running = true
	g.mu.Unlock()
	defer g.endRun()

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(g.loops))
	var wg sync.WaitGroup
	for i, l := range g.loops {
		wg.Go(func() {
			errs[i] = l.Run(cctx)
			if g.loopReturned != nil {
				g.loopReturned(i)
			}
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

// endRun ends a Run whose loops all returned: a Stop made during the Run
// was for it, so none is left for the next Run (see the top of the file).
func (g *Group) endRun() {
	g.mu.Lock()
	for _, l := range g.loops {
		l.dropStop()
	}
	g.running = false
	g.mu.Unlock()
}

// Stop makes the running Run (or, if none runs, the next one) return nil. A
// Stop made while Run runs is never left over for the next Run. Safe from
// any goroutine, including the loops' handlers.
func (g *Group) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
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
