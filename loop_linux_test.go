package fdring_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/loop"
)

// TestLoopSeesPeerDeath: a cross-process ring watched by a loop; killing the
// producer process reaches the handler as ErrPeerGone, after every item.
func TestLoopSeesPeerDeath(t *testing.T) {
	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	const n = 50_000
	cmd, out := child(t, "produce-then-wait", ln.Path(), n)
	rx := accept(t, ln)
	if line, err := out.ReadString('\n'); err != nil || line != fmt.Sprintf("committed %d\n", n) {
		t.Fatalf("child said %q, %v", line, err)
	}
	done := make(chan error, 1)
	var count uint64
	ringSink(t, l, rx, func(got uint64, err error) { count = got; done <- err; l.Stop() })
	wait := runLoop(t, l)
	cmd.Process.Kill()
	select {
	case err := <-done:
		if !errors.Is(err, fdring.ErrPeerGone) || count != n {
			t.Fatalf("handler got %d items then %v, want %d then ErrPeerGone", count, err, n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the loop never learned of the peer's death")
	}
	wait()
}
