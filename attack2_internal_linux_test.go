package fdring

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"
)

// TestAttack2ReleaseBeforeRingClose holds open, deterministically, the
// window TestAttack2CloseWhileProducerWakes hit by chance: Close once
// marked the side closed before it published the close in the ring, and a
// blocking call of the owner that returned in between was the last one and
// released the channel: the connection was closed while the ring did not
// say closed, and the receiver reported ErrPeerGone for a clean close. Now
// the ring's close comes first and the closer counts as a call in progress
// (it mirrors side.close step by step).
func TestAttack2ReleaseBeforeRingClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := Listen(filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dc := make(chan *Sender[uint64], 1)
	go func() {
		tx, err := DialContext[uint64](ctx, l.Path(), 4)
		if err != nil {
			t.Error(err)
		}
		dc <- tx
	}()
	rx, err := AcceptContext[uint64](ctx, l)
	tx := <-dc
	if err != nil || tx == nil {
		t.Fatalf("accept: %v", err)
	}
	defer rx.Close()
	defer tx.Close()

	// side.close, step by step, with a SendWait in progress that returns
	// as soon as the side is marked closed, before the closer is done.
	if !tx.state.enter() { // the SendWait in progress
		t.Fatal("enter")
	}
	tx.tx.Close() // Close, first step: the ring's close is published
	if !tx.state.beginClose() {
		t.Fatal("beginClose")
	}
	if tx.state.exit() { // the SendWait returns (ErrClosed)
		t.Fatal("the SendWait released while the closer was still at work")
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	_, rerr := rx.RecvWait(wctx, func(d []uint64) int { return len(d) })
	if tx.state.exit() { // the closer is done: it releases
		tx.release()
	}
	if rerr != io.EOF {
		_, again := rx.Recv(func(d []uint64) int { return len(d) })
		t.Errorf("a sender closing cleanly: the receiver got %v (then %v), want io.EOF; the sender's connection was closed before its ring said closed", rerr, again)
	}
}
