package fdring_test

import (
	"context"
	"errors"
	"testing"

	"github.com/fdring/fdring"
)

// TestAcceptCancelThenAccept: an AcceptContext whose context is cancelled
// leaves nothing behind for the next call (a late cancel callback once set
// a past deadline on the listener after the next call had set its own, and
// that call failed with a spurious timeout). Each round cancels one
// AcceptContext while it waits, then accepts a real producer.
func TestAcceptCancelThenAccept(t *testing.T) {
	l := listen(t)
	for i := range 50 {
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() {
			_, err := fdring.AcceptContext[uint64](ctx, l)
			res <- err
		}()
		cancel()
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: cancelled Accept = %v", i, err)
		}
		dialed := make(chan error, 1)
		go func() {
			tx, err := fdring.DialContext[uint64](testCtx(t), l.Path(), 8)
			if err == nil {
				err = tx.Close()
			}
			dialed <- err
		}()
		rx, err := fdring.AcceptContext[uint64](testCtx(t), l)
		if err != nil {
			t.Fatalf("round %d: Accept after a cancelled one: %v", i, err)
		}
		if err := <-dialed; err != nil {
			t.Fatalf("round %d: Dial: %v", i, err)
		}
		rx.Close()
	}
}
