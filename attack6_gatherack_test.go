package fdring

// SendWait's gather and a protocol in which the receiver waits for the
// producer: the receiver reads one element, then waits for the producer
// to write the next (an acknowledgement, a credit) before it reads again.
// The gather finds one slot free each time and nobody frees more: before
// the gather, each step took a microsecond; with it, each took the
// channel's whole spin (a minute with WithSpin(time.Minute)).

import (
	"context"
	"testing"
	"time"
)

// TestAttack6GatherReceiverWaitsForProducer: 20 acknowledged steps over a
// full ring with a spin of a minute finish within seconds, every element
// in order.
func TestAttack6GatherReceiverWaitsForProducer(t *testing.T) {
	tx, rx := gatherRing(t, time.Minute, 0)
	tx.idle = gatherIdle // what New gives: the point of this test
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const steps = 20
	ack := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() {
		for i := uint64(16); i < 16+steps; i++ {
			select {
			case <-ack:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
			// Background, not ctx: the gather must end by itself.
			if n, err := tx.SendWait(context.Background(), func(f []uint64) int { f[0] = i; return 1 }); n != 1 || err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := uint64(0); i < steps; i++ {
		v, err := rx.Get(ctx)
		if err != nil || v != i {
			t.Fatalf("Get = %d, %v; want %d", v, err, i)
		}
		select {
		case ack <- struct{}{}:
		case <-ctx.Done():
			t.Fatalf("step %d: the producer took no acknowledgement within 10 s (spin a minute)", i)
		}
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the producer did not finish 20 acknowledged steps within 10 s (spin a minute)")
	}
	for i := uint64(steps); i < 16+steps; i++ {
		if v, ok, err := rx.TryGet(); !ok || err != nil || v != i {
			t.Fatalf("TryGet = %d, %v, %v; want %d", v, ok, err, i)
		}
	}
}
