package fdring_test

// The per-item API against a peer in another process (the hostile child:
// see hostile_child_linux_test.go) that tampers with the shared header or
// dies while this process uses Put, TryPut, Get and TryGet. Rings shared
// between processes always take the slow path (haltSlow), so these run the
// same code with and without -race.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fdring/fdring"
)

// getWithin is Get with a deadline of d.
func getWithin(rx *fdring.Receiver[uint64], d time.Duration) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return rx.Get(ctx)
}

// putWithin is Put with a deadline of d.
func putWithin(tx *fdring.Sender[uint64], v uint64, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return tx.Put(ctx, v)
}

// TestAttack4HostileGetScript: the producer process interleaves honest
// publishes with writes of arbitrary values into tail and txState (and
// wakeups) while this process takes elements with Get and TryGet: no
// panic, no call beyond its deadline, only the documented errors, an
// element only while nothing was seen broken, and ErrCorrupt and io.EOF
// final.
func TestAttack4HostileGetScript(t *testing.T) {
	l := listen(t)
	c := startHostileChild(t)
	tails := []string{"0", "1", "3", "64", "65", "66", "0xffffffffffffffff", "0x8000000000000000"}
	states := []string{"0", "1", "2", "5", "0xffffffff"}
	for round := range 12 {
		rng := rand.New(rand.NewPCG(uint64(round), 4))
		rx := acceptChild(t, c, l, 64, "")
		var final error
		for k := range 60 {
			switch rng.IntN(5) {
			case 0:
				c.do("produce " + fmt.Sprint(1+rng.IntN(8)))
			case 1:
				c.do("write tail " + tails[rng.IntN(len(tails))])
			case 2:
				c.do("write txState " + states[rng.IntN(len(states))])
			case 3:
				c.do("signal")
			}
			var err error
			start := time.Now()
			if k%2 == 0 {
				_, err = getWithin(rx, 5*time.Millisecond)
			} else {
				_, _, err = rx.TryGet()
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("round %d: call %d took %v", round, k, d)
			}
			if final != nil {
				if !errors.Is(err, final) {
					t.Fatalf("round %d: call %d after %v returned %v", round, k, final, err)
				}
				continue
			}
			switch {
			case err == nil, errors.Is(err, context.DeadlineExceeded):
			case errors.Is(err, fdring.ErrCorrupt):
				final = fdring.ErrCorrupt
			case errors.Is(err, io.EOF):
				final = io.EOF
			default:
				t.Fatalf("round %d: call %d: %v", round, k, err)
			}
		}
		closeWithin(t, "Receiver", rx.Close)
		c.do("die")
	}
}

// TestAttack4HostilePutCorrupt: with the ring full and Put sleeping, the
// consumer process writes a value outside the protocol into a header word
// and wakes the producer: Put returns ErrCorrupt at once, and so do the
// next Put and TryPut.
func TestAttack4HostilePutCorrupt(t *testing.T) {
	for _, tc := range []struct{ word, value string }{
		{"head", "65"},                 // beyond tail
		{"head", "0xffffffffffffffff"}, // before the validated head
		{"rxState", "5"},               // outside 0..2
		{"txState", "5"},               // our own word
		{"txState", "2"},               // our own word: closed, but not by us
	} {
		t.Run(tc.word+"="+tc.value, func(t *testing.T) {
			c := startHostileChild(t)
			path := sockPath(t)
			c.do("listen " + path)
			tx := dialChild(t, c, path, 64)
			ctx := testCtx(t)
			for i := range uint64(64) {
				if err := tx.Put(ctx, seq(i)); err != nil {
					t.Fatal(err)
				}
			}
			if ok, err := tx.TryPut(0); ok || err != nil {
				t.Fatalf("TryPut on a full ring = %v, %v", ok, err)
			}
			res := make(chan error, 1)
			go func() { res <- putWithin(tx, 64, 5*time.Second) }()
			c.do("waitword txState 1 10000")
			start := time.Now()
			c.do("write " + tc.word + " " + tc.value)
			c.do("signal")
			err := awaitErr(t, res, 10*time.Second, "Put")
			if !errors.Is(err, fdring.ErrCorrupt) || time.Since(start) > 3*time.Second {
				t.Fatalf("Put after %s=%s: %v after %v; want ErrCorrupt at once", tc.word, tc.value, err, time.Since(start))
			}
			if err := putWithin(tx, 65, time.Second); !errors.Is(err, fdring.ErrCorrupt) {
				t.Fatalf("next Put: %v", err)
			}
			if ok, err := tx.TryPut(66); ok || !errors.Is(err, fdring.ErrCorrupt) {
				t.Fatalf("next TryPut: %v, %v", ok, err)
			}
		})
	}
}

// TestAttack4HostileGetCorrupt: the producer process publishes a few
// elements, then writes a value outside the protocol while Get sleeps on
// the empty ring: Get delivers every validated element, then ErrCorrupt
// at once, and stays there.
func TestAttack4HostileGetCorrupt(t *testing.T) {
	for _, tc := range []struct{ word, value string }{
		{"tail", "100"},  // beyond head+capacity
		{"tail", "1"},    // behind the validated tail
		{"txState", "5"}, // outside 0..2
		{"rxState", "2"}, // our own word: closed, but not by us
	} {
		t.Run(tc.word+"="+tc.value, func(t *testing.T) {
			l := listen(t)
			c := startHostileChild(t)
			rx := acceptChild(t, c, l, 64, "")
			c.do("produce 3")
			for i := range uint64(3) {
				if v, err := getWithin(rx, 10*time.Second); err != nil || v != seq(i) {
					t.Fatalf("Get #%d = %#x, %v", i, v, err)
				}
			}
			res := make(chan error, 1)
			go func() { _, err := getWithin(rx, 5*time.Second); res <- err }()
			c.do("waitword rxState 1 10000")
			start := time.Now()
			c.do("write " + tc.word + " " + tc.value)
			c.do("signal")
			err := awaitErr(t, res, 10*time.Second, "Get")
			if !errors.Is(err, fdring.ErrCorrupt) || time.Since(start) > 3*time.Second {
				t.Fatalf("Get after %s=%s: %v after %v; want ErrCorrupt at once", tc.word, tc.value, err, time.Since(start))
			}
			if _, ok, err := rx.TryGet(); ok || !errors.Is(err, fdring.ErrCorrupt) {
				t.Fatalf("next TryGet: %v, %v", ok, err)
			}
		})
	}
}

// TestAttack4PutPeerDies: the consumer process dies (SIGKILL) while Put
// sleeps on a full ring: Put returns ErrPeerGone promptly, and so do the
// next Put and TryPut.
func TestAttack4PutPeerDies(t *testing.T) {
	c := startHostileChild(t)
	path := sockPath(t)
	c.do("listen " + path)
	tx := dialChild(t, c, path, 64)
	ctx := testCtx(t)
	for i := range uint64(64) {
		if err := tx.Put(ctx, seq(i)); err != nil {
			t.Fatal(err)
		}
	}
	res := make(chan error, 1)
	go func() { res <- putWithin(tx, 64, 20*time.Second) }()
	c.do("waitword txState 1 10000")
	c.kill()
	if err := awaitErr(t, res, 25*time.Second, "Put"); !errors.Is(err, fdring.ErrPeerGone) {
		t.Fatalf("Put after the consumer died: %v; want ErrPeerGone", err)
	}
	if err := putWithin(tx, 65, time.Second); !errors.Is(err, fdring.ErrPeerGone) {
		t.Fatalf("next Put: %v", err)
	}
	if ok, err := tx.TryPut(66); ok || !errors.Is(err, fdring.ErrPeerGone) {
		t.Fatalf("next TryPut: %v, %v", ok, err)
	}
}

// TestAttack4GetPeerDies: the producer process publishes elements and dies
// (SIGKILL), once while Get sleeps and once with data in the ring: Get
// delivers every element it published, then ErrPeerGone, and stays there.
// A producer that closed cleanly before it died ends with io.EOF instead.
func TestAttack4GetPeerDies(t *testing.T) {
	for _, tc := range []struct {
		name      string
		before    int  // elements published before Get sleeps
		after     int  // elements published after, right before the death
		closeIt   bool // close cleanly before dying
		wantFinal error
	}{
		{"sleeping", 2, 0, false, fdring.ErrPeerGone},
		{"with-data", 2, 5, false, fdring.ErrPeerGone},
		{"closed-then-died", 2, 5, true, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := listen(t)
			c := startHostileChild(t)
			rx := acceptChild(t, c, l, 64, "")
			c.do(fmt.Sprintf("produce %d", tc.before))
			got := uint64(0)
			for ; got < uint64(tc.before); got++ {
				if v, err := getWithin(rx, 10*time.Second); err != nil || v != seq(got) {
					t.Fatalf("Get #%d = %#x, %v", got, v, err)
				}
			}
			if tc.after == 0 {
				res := make(chan error, 1)
				go func() { _, err := getWithin(rx, 20*time.Second); res <- err }()
				c.do("waitword rxState 1 10000")
				c.kill()
				if err := awaitErr(t, res, 25*time.Second, "Get"); !errors.Is(err, tc.wantFinal) {
					t.Fatalf("sleeping Get after the producer died: %v; want %v", err, tc.wantFinal)
				}
			} else {
				c.do(fmt.Sprintf("produce %d", tc.after))
				if tc.closeIt {
					c.do("close")
				}
				c.kill()
				for ; got < uint64(tc.before+tc.after); got++ {
					if v, err := getWithin(rx, 10*time.Second); err != nil || v != seq(got) {
						t.Fatalf("Get #%d after the death = %#x, %v", got, v, err)
					}
				}
				if _, err := getWithin(rx, 10*time.Second); !errors.Is(err, tc.wantFinal) {
					t.Fatalf("Get after the last element: %v; want %v", err, tc.wantFinal)
				}
			}
			for k := range 3 {
				if _, err := getWithin(rx, time.Second); !errors.Is(err, tc.wantFinal) {
					t.Fatalf("Get #%d after the end: %v; want %v", k, err, tc.wantFinal)
				}
				if _, ok, err := rx.TryGet(); ok || !errors.Is(err, tc.wantFinal) {
					t.Fatalf("TryGet #%d after the end: %v, %v; want %v", k, ok, err, tc.wantFinal)
				}
			}
		})
	}
}
