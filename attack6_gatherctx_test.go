package fdring

// SendWait's gather and its context: a gather spins up to the channel's
// spin time, which may be long (WithSpin(time.Minute)); a caller whose
// context ended must not wait for it.

import (
	"context"
	"testing"
	"time"
)

// sendAllCtx is sendAll with a context.
func sendAllCtx(ctx context.Context, tx *Sender[uint64]) <-chan sendResult {
	done := make(chan sendResult, 1)
	go func() {
		got := -1
		_, err := tx.SendWait(ctx, func(f []uint64) int { got = len(f); return len(f) })
		done <- sendResult{got, err}
	}()
	return done
}

// A SendWait whose context has already ended does not gather, however
// long the channel's spin: it returns at once. The contract (SendWait's
// doc) looks at ctx only where it would wait: with room in the ring fill
// is called, as on the fast path, so the one free slot is written.
func TestAttack6GatherCtxDone(t *testing.T) {
	tx, _ := gatherRing(t, time.Minute, 1)
	tx.gatherHook = func() { t.Error("gathered with a context that had ended") }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := await(t, sendAllCtx(ctx, tx), "SendWait with an ended context")
	if r.err != nil || r.free != 1 {
		t.Fatalf("SendWait: fill offered %d, err %v; want 1 and nil", r.free, r.err)
	}
}

// A context that ends while SendWait gathers ends the gather (a spin of a
// minute is no way to wait for a caller who gave up): fill gets the room
// there is and SendWait returns.
func TestAttack6GatherCtxCancelled(t *testing.T) {
	tx, _ := gatherRing(t, time.Minute, 1)
	gathering := make(chan struct{})
	tx.gatherHook = func() { close(gathering) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := sendAllCtx(ctx, tx)
	await(t, gathering, "gather")
	cancel()
	r := await(t, done, "SendWait after its context ended")
	if r.err != nil || r.free != 1 {
		t.Fatalf("SendWait: fill offered %d, err %v; want 1 and nil", r.free, r.err)
	}
}

// A deadline that passes while SendWait gathers ends the gather too.
func TestAttack6GatherDeadline(t *testing.T) {
	tx, _ := gatherRing(t, time.Minute, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r := await(t, sendAllCtx(ctx, tx), "SendWait past its deadline")
	if r.err != nil || r.free != 1 {
		t.Fatalf("SendWait: fill offered %d, err %v; want 1 and nil", r.free, r.err)
	}
}

// Watching a cancellable context while gathering allocates nothing (Err,
// not Done, which would make the context's channel): a SendWait that
// finds 1 slot of 16 free with a live WithCancel context spins its 2 us
// and writes it, over and over.
func TestAttack6GatherCtxNoAllocs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gatherNoAllocs(t, ctx, "SendWait with a gather and a cancellable context")
}
