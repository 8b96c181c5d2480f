package fdnet_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/fdring/fdring/fdnet"
)

// TestReplySpinPolicy pins down who spins by default: a Conn made without
// WithSpin expects a reply after it wrote (its next waiting Read polls
// first) until data comes in, and not otherwise; WithSpin hands every wait to the rings' spin
// and turns the reply spin off.
func TestReplySpinPolicy(t *testing.T) {
	a, b := pipe(t)
	if exp, spin := fdnet.ExpectsReply(a); exp || spin != fdnet.DefaultReplySpin {
		t.Fatalf("new Conn: expects a reply %v, reply spin %v; want false, %v", exp, spin, fdnet.DefaultReplySpin)
	}
	if _, err := a.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if exp, _ := fdnet.ExpectsReply(a); !exp {
		t.Fatal("after Write: no reply expected")
	}
	if exp, _ := fdnet.ExpectsReply(b); exp {
		t.Fatal("the reading end expects a reply it never asked for")
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "ping" {
		t.Fatalf("read %q, %v", got, err)
	}
	// b answers; a's Read consumes the expectation.
	if _, err := b.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(a, got); err != nil || string(got) != "pong" {
		t.Fatalf("read %q, %v", got, err)
	}
	if exp, _ := fdnet.ExpectsReply(a); exp {
		t.Fatal("after the reply was read: still expecting one")
	}
	// Data that comes in counts as the reply, even when it was there
	// before the Read (a reader goroutine that was already waiting while
	// another one wrote): the next Read does not spin for it.
	if _, err := b.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(a, got[:1]); err != nil || got[0] != 'x' {
		t.Fatalf("read %q, %v", got[:1], err)
	}
	if exp, _ := fdnet.ExpectsReply(a); exp {
		t.Fatal("after data came in: still expecting a reply")
	}
	if _, err := io.ReadFull(b, got[:1]); err != nil || got[0] != 'y' {
		t.Fatalf("read %q, %v", got[:1], err)
	}
	// An empty Write asks nothing.
	if _, err := a.Write(nil); err != nil {
		t.Fatal(err)
	}
	if exp, _ := fdnet.ExpectsReply(a); exp {
		t.Fatal("an empty Write made the Conn expect a reply")
	}
	// ReadFrom writes too.
	if _, err := a.ReadFrom(bytes.NewReader([]byte("more"))); err != nil {
		t.Fatal(err)
	}
	if exp, _ := fdnet.ExpectsReply(a); !exp {
		t.Fatal("after ReadFrom: no reply expected")
	}

	for _, d := range []time.Duration{0, 20 * time.Microsecond} {
		c, _ := pipe(t, fdnet.WithSpin(d))
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if exp, spin := fdnet.ExpectsReply(c); exp || spin != 0 {
			t.Fatalf("WithSpin(%v): expects a reply %v, reply spin %v; want false, 0", d, exp, spin)
		}
	}
}

// TestReplySpinEnds: a Read that expects a reply which never comes spins
// for a bounded while, then sleeps like any other, and its deadline and
// Close still end it.
func TestReplySpinEnds(t *testing.T) {
	a, _ := pipe(t)
	if _, err := a.Write([]byte("unanswered")); err != nil {
		t.Fatal(err)
	}
	base := readSleeps(a)
	if err := a.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	res := async(func() error {
		_, err := a.Read(make([]byte, 8))
		return err
	})
	waitSleeping(t, func() uint64 { return readSleeps(a) }, base)
	// Moving the deadline into the past wakes the sleeping Read.
	if err := a.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	checkTimeout(t, await(t, res))

	// Again, ended by Close this time.
	if err := a.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	base = readSleeps(a)
	res = async(func() error {
		_, err := a.Read(make([]byte, 8))
		return err
	})
	waitSleeping(t, func() uint64 { return readSleeps(a) }, base)
	a.Close()
	checkClosed(t, await(t, res))
}
