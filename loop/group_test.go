package loop

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// groupEcho echoes and reports which loop each connection landed on.
type groupEcho struct {
	*echo
	g      *Group
	landed chan int
}

func (h *groupEcho) OnOpen(c *Conn) {
	for i, l := range h.g.Loops() {
		if c.Loop() == l {
			h.landed <- i
		}
	}
}

func startGroup(t *testing.T, n int, opts ...Option) (*Group, *groupEcho, net.Addr, chan error) {
	t.Helper()
	g, err := NewGroup(n, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	h := &groupEcho{echo: newEcho(), g: g, landed: make(chan int, 16)}
	ln, err := g.Listen("tcp", "127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	errc := make(chan error, 1)
	go func() { errc <- g.Run(ctx) }()
	return g, h, ln.Addr(), errc
}

func dialEcho(t *testing.T, addr net.Addr, h *groupEcho) (net.Conn, int) {
	t.Helper()
	nc, err := net.Dial(addr.Network(), addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc, waitCh(t, h.landed, "OnOpen")
}

func TestGroupRoundRobin(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		g, h, addr, errc := startGroup(t, 2, opts...)
		var conns []net.Conn
		for i := range 6 {
			nc, at := dialEcho(t, addr, h)
			if at != i%2 {
				t.Fatalf("connection %d landed on loop %d", i, at)
			}
			conns = append(conns, nc)
		}
		for i, nc := range conns {
			roundTrip(t, nc, pattern(i, 64<<10))
		}
		for i, l := range g.Loops() {
			if st := l.Stats(); st.Conns != 3 {
				t.Errorf("loop %d: %d conns", i, st.Conns)
			}
		}
		g.Stop()
		if err := waitCh(t, errc, "group Run"); err != nil {
			t.Fatal(err)
		}
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
		if err := g.Run(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Run after Close = %v", err)
		}
	})
}

func TestGroupLeastConns(t *testing.T) {
	g, h, addr, errc := startGroup(t, 2, WithBalance(LeastConns))
	c1, at1 := dialEcho(t, addr, h)
	_, at2 := dialEcho(t, addr, h)
	if at1 != 0 || at2 != 1 {
		t.Fatalf("first two landed on %d, %d", at1, at2)
	}
	c1.Close()
	waitCh(t, h.closed, "OnClose")
	// Loop 0 now has none, loop 1 one: the next two both go to loop 0
	// (the second on a 1:1 tie, lowest index).
	for i := range 2 {
		if _, at := dialEcho(t, addr, h); at != 0 {
			t.Fatalf("connection %d after the close landed on loop %d", i, at)
		}
	}
	g.Stop()
	if err := waitCh(t, errc, "group Run"); err != nil {
		t.Fatal(err)
	}
}

// TestGroupStopDuringCancel: a Group.Stop that arrives while Group.Run is
// returning because its context ended, after some loops already returned
// and before the others did, is for that Run. It used to stay set on the
// loops that had returned, so that the next Run returned at once.
func TestGroupStopDuringCancel(t *testing.T) {
	g, err := NewGroup(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	returned := make(chan int, 2)
	g.loopReturned = func(i int) { returned <- i }

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- g.Run(ctx) }()
	// Hold loop 1 inside a Post, so that Run cannot return yet.
	held, release := make(chan struct{}), make(chan struct{})
	if err := g.Loops()[1].Post(func() {
		close(held)
		<-release
	}); err != nil {
		t.Fatal(err)
	}
	waitCh(t, held, "loop 1 to run the Post")
	cancel()
	if i := waitCh(t, returned, "a loop to return"); i != 0 {
		t.Fatalf("loop %d returned first; loop 1 is held", i)
	}
	g.Stop() // loop 0 has returned, loop 1 is still inside Run
	close(release)
	if i := waitCh(t, returned, "loop 1 to return"); i != 1 {
		t.Fatalf("loop %d returned second", i)
	}
	if err := waitCh(t, errc, "Group.Run"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}

	// The next Run serves: a Post on every loop runs while it is running.
	ctx2, cancel2 := context.WithTimeout(context.Background(), testTimeout)
	defer cancel2()
	go func() { errc <- g.Run(ctx2) }()
	for i, l := range g.Loops() {
		ran := make(chan struct{})
		if err := l.Post(func() { close(ran) }); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ran:
		case err := <-errc:
			t.Fatalf("the next Run returned at once (%v) before loop %d ran a Post", err, i)
		case <-time.After(testTimeout):
			t.Fatalf("loop %d did not run a Post", i)
		}
	}
	select {
	case err := <-errc:
		t.Fatalf("the next Run returned (%v) without a Stop", err)
	default:
	}
	g.Stop()
	if err := waitCh(t, errc, "Group.Run after Stop"); err != nil {
		t.Fatalf("Run after Stop = %v, want nil", err)
	}
	for range 2 {
		waitCh(t, returned, "the loops of the second Run")
	}
}
