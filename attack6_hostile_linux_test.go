package fdring_test

// SendWait's gather against a consumer in another process (the hostile
// child: see hostile_child_linux_test.go) that tampers with the shared
// header, closes, or dies while the producer spins for room with a spin
// of a minute: the SendWait ends promptly with the documented error.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fdring/fdring"
)

// gatherChild dials the hostile child consumer with a spin of a minute,
// fills the 16-slot ring, lets the child read one element, and starts a
// SendWait, which gathers (1 slot free, lowWater 4). It returns once the
// gather began, with the SendWait's result to come: the len(free) fill
// was offered (-1: not called) and its error.
func gatherChild(t *testing.T) (*hostileChild, *fdring.Sender[uint64], <-chan gatherResult) {
	t.Helper()
	c := startHostileChild(t)
	path := sockPath(t)
	c.do("listen " + path)
	c.send("accept")
	tx, err := fdring.DialContext[uint64](testCtx(t), path, 16, fdring.WithSpin(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	c.expect()
	ctx := testCtx(t)
	for i := range uint64(16) {
		if err := tx.Put(ctx, seq(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.do("consume 1"); got != "1" {
		t.Fatalf("the child consumed %q, want 1", got)
	}
	gathering := make(chan struct{})
	fdring.SetGatherHook(tx, func() { close(gathering) })
	fdring.SetGatherIdle(tx, time.Hour) // the gather ends by what the child does
	res := make(chan gatherResult, 1)
	go func() {
		free := -1
		_, err := tx.SendWait(ctx, func(f []uint64) int { free = len(f); return len(f) })
		res <- gatherResult{free, err}
	}()
	select {
	case <-gathering:
	case r := <-res:
		t.Fatalf("SendWait returned (fill offered %d, %v) without gathering", r.free, r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("no gather within 10 s")
	}
	return c, tx, res
}

type gatherResult struct {
	free int
	err  error
}

func awaitGather(t *testing.T, res <-chan gatherResult) gatherResult {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("SendWait still gathering after 10 s (its spin is a minute)")
	}
	return gatherResult{}
}

// TestAttack6HostileGather: while the producer gathers, the consumer
// process writes a header word outside the protocol, closes, or dies
// (SIGKILL, or every fd closed): the SendWait returns the documented error
// without calling fill, long before its spin of a minute ends, and the
// next SendWait returns it too.
func TestAttack6HostileGather(t *testing.T) {
	for _, tc := range []struct {
		name string
		act  func(c *hostileChild)
		want error
	}{
		{"head backwards", func(c *hostileChild) { c.do("write head 0") }, fdring.ErrCorrupt},
		{"head past tail", func(c *hostileChild) { c.do("write head 17") }, fdring.ErrCorrupt},
		{"head wraps", func(c *hostileChild) { c.do("write head 0xffffffffffffffff") }, fdring.ErrCorrupt},
		{"rxState 5", func(c *hostileChild) { c.do("write rxState 5") }, fdring.ErrCorrupt},
		{"close", func(c *hostileChild) { c.do("close") }, fdring.ErrClosed},
		{"killed", func(c *hostileChild) { c.kill() }, fdring.ErrPeerGone},
		{"fds closed", func(c *hostileChild) { c.do("die") }, fdring.ErrPeerGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, tx, res := gatherChild(t)
			start := time.Now()
			tc.act(c)
			r := awaitGather(t, res)
			if !errors.Is(r.err, tc.want) || r.free != -1 {
				t.Fatalf("SendWait: fill offered %d, err %v after %v; want no fill and %v", r.free, r.err, time.Since(start), tc.want)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if n, err := tx.SendWait(ctx, func(f []uint64) int { return len(f) }); n != 0 || !errors.Is(err, tc.want) {
				t.Fatalf("next SendWait: %d, %v; want 0 and %v", n, err, tc.want)
			}
		})
	}
}

// TestAttack6HostileGatherHonest: the consumer process reads three more
// while the producer gathers: fill is offered the quarter of the ring the
// gather waited for, and the consumer reads what was written.
func TestAttack6HostileGatherHonest(t *testing.T) {
	c, _, res := gatherChild(t)
	if got := c.do("consume 3"); got != "3" {
		t.Fatalf("the child consumed %q, want 3", got)
	}
	if r := awaitGather(t, res); r.err != nil || r.free != 4 {
		t.Fatalf("SendWait: fill offered %d, err %v; want 4 and nil", r.free, r.err)
	}
	if got := c.do("consume 16"); got != "16" {
		t.Fatalf("the child consumed %q, want the 16 in the ring", got)
	}
}
