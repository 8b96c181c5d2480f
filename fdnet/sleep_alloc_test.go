package fdnet_test

import (
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/fdring/fdring/fdnet"
)

// awaitRise returns once sleeps() exceeds base, or an error after
// testTimeout. Unlike waitSleeping it yields instead of sleeping, so that
// it can run inside a measured function (time.Sleep's timer would count
// for nothing, but a sleeping poller would slow every round down), and it
// reports rather than fails (it runs on the echo's goroutine too).
func awaitRise(sleeps func() uint64, base uint64) error {
	end := time.Now().Add(testTimeout)
	for i := 0; sleeps() <= base; i++ {
		if i%64 == 0 && time.Now().After(end) {
			return errors.New("the peer never went to sleep")
		}
		runtime.Gosched()
	}
	return nil
}

// TestSleepingRoundTripNoAllocs: a 64-byte ping-pong over a Conn pair in
// which every Read sleeps on its wakeup fd (the other side answers only
// once the reader went to sleep) allocates nothing once warm, counting
// the echo goroutine: the deadline contexts live as long as the Conn, so
// each side's Waiter keeps one context registration for the whole stream.
func TestSleepingRoundTripNoAllocs(t *testing.T) {
	for _, c := range []struct {
		name string
		make func(t *testing.T) (*fdnet.Conn, *fdnet.Conn)
	}{
		{"Pipe", func(t *testing.T) (*fdnet.Conn, *fdnet.Conn) { return pipe(t) }},
		{"Pipe-nospin", func(t *testing.T) (*fdnet.Conn, *fdnet.Conn) { return pipe(t, fdnet.WithSpin(0)) }},
		{"Dial", func(t *testing.T) (*fdnet.Conn, *fdnet.Conn) {
			a, b, err := dialPair(t, listen(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close(); b.Close() })
			return a, b
		}},
	} {
		t.Run(c.name, func(t *testing.T) { testSleepingRoundTrip(t, c.make) })
	}
}

func testSleepingRoundTrip(t *testing.T, mk func(t *testing.T) (*fdnet.Conn, *fdnet.Conn)) {
	a, b := mk(t)
	echoErr := make(chan error, 1)
	go func() {
		var buf [64]byte
		for {
			if _, err := io.ReadFull(b, buf[:]); err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				echoErr <- err
				return
			}
			// The ball carries the pinger's read sleeps before its Read:
			// answer once it slept once more.
			base := uint64(buf[0]) | uint64(buf[1])<<8 | uint64(buf[2])<<16 | uint64(buf[3])<<24
			if err := awaitRise(func() uint64 { return readSleeps(a) }, base); err != nil {
				echoErr <- err
				return
			}
			if _, err := b.Write(buf[:]); err != nil {
				echoErr <- err
				return
			}
		}
	}()
	var (
		ball, back [64]byte
		echoAt     uint64 // the echo's read sleeps when the ball last went out
		rerr       error
	)
	pingerSleeps := func() uint64 { return readSleeps(a) }
	echoSleeps := func() uint64 { return readSleeps(b) }
	round := func() {
		if rerr != nil {
			return
		}
		if rerr = awaitRise(echoSleeps, echoAt); rerr != nil {
			return
		}
		echoAt = echoSleeps()
		base := pingerSleeps()
		ball[0], ball[1], ball[2], ball[3] = byte(base), byte(base>>8), byte(base>>16), byte(base>>24)
		if _, rerr = a.Write(ball[:]); rerr != nil {
			return
		}
		if _, rerr = io.ReadFull(a, back[:]); rerr == nil && back != ball {
			rerr = errors.New("the ball came back changed")
		}
	}
	round() // warm up: the waiters are made on the first sleep
	if rerr != nil {
		t.Fatal(rerr)
	}
	// The echo's sleep for the first measured round may come before the
	// measure starts: count from the last hand-over.
	p0, e0 := pingerSleeps(), echoAt
	const runs = 100
	allocs := testing.AllocsPerRun(runs, round)
	if rerr != nil {
		t.Fatal(rerr)
	}
	// AllocsPerRun makes one more run to warm up.
	if d := pingerSleeps() - p0; d < runs+1 {
		t.Fatalf("the pinger's Read slept %d times in %d rounds; want at least one per round", d, runs+1)
	}
	if d := echoSleeps() - e0; d < runs+1 {
		t.Fatalf("the echo's Read slept %d times in %d rounds; want at least one per round", d, runs+1)
	}
	if allocs != 0 && !raceEnabled {
		t.Errorf("a sleeping round trip (Write and Read on each side) allocates %v times", allocs)
	}
	if err := a.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := await(t, echoErr); err != nil {
		t.Fatalf("echo: %v", err)
	}
}
