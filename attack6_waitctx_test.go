package fdring

// The spin before a sleep and the context: SendWait and RecvWait spin for
// the channel's spin time before they sleep, and a deadline that passes
// during that spin must end the call, not the spin's end (a minute with
// WithSpin(time.Minute)).

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAttack6WaitSpinDeadline: SendWait on a full ring and RecvWait on an
// empty one, with a spin of a minute and a deadline of 50 ms, return
// context.DeadlineExceeded within seconds.
func TestAttack6WaitSpinDeadline(t *testing.T) {
	tx, rx, err := New[uint64](4, WithSpin(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	defer rx.Close()
	recv := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := rx.RecvWait(ctx, func(d []uint64) int { return len(d) })
		recv <- err
	}()
	if err := await(t, recv, "RecvWait on an empty ring past its deadline"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RecvWait: %v; want context.DeadlineExceeded", err)
	}
	for range 4 {
		if ok, err := tx.TryPut(1); !ok || err != nil {
			t.Fatalf("TryPut: %v, %v", ok, err)
		}
	}
	send := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := tx.SendWait(ctx, func(f []uint64) int { return len(f) })
		send <- err
	}()
	if err := await(t, send, "SendWait on a full ring past its deadline"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendWait: %v; want context.DeadlineExceeded", err)
	}
}
