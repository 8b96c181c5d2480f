package fdring

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"
)

// TestAttack2ReleaseBeforeRingClose holds open, deterministically, the
// window TestAttack2CloseWhileProducerWakes hits by chance: Close marks
// the side closed (state.close) before it publishes the close in the ring
// (ringClose). A blocking call of the owner that returns in between is the
// last one and releases the channel: the connection is closed while the
// ring does not say closed. The receiver sees the hang-up and reports
// ErrPeerGone for what is a clean close. (It mirrors side.close step by
// step; adapt it with the fix.)
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

	if !tx.state.enter() { // a SendWait in progress
		t.Fatal("enter")
	}
	if _, release := tx.state.close(); release { // Close, first step
		t.Fatal("release with a call in progress")
	}
	tx.exit() // the SendWait returns (ErrClosed): the last call releases
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	_, rerr := rx.RecvWait(wctx, func(d []uint64) int { return len(d) })
	tx.tx.Close() // Close, second step: ringClose
	if rerr != io.EOF {
		_, again := rx.Recv(func(d []uint64) int { return len(d) })
		t.Errorf("a sender closing cleanly: the receiver got %v (then %v), want io.EOF; the sender's connection was closed before its ring said closed", rerr, again)
	}
}
