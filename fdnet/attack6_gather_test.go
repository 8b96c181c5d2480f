package fdnet_test

import (
	"io"
	"testing"
	"time"

	"github.com/fdring/fdring/fdnet"
)

// A Conn made WithSpin spins in the ring's SendWait, which gathers room
// when the ring is nearly full: a write deadline that passes while a
// Write gathers (a spin of a minute, 1 byte of 64 free) ends the Write
// with a timeout, not a minute later, and the bytes it got in arrive.
func TestAttack6WriteDeadlineWhileGathering(t *testing.T) {
	a, b := pipe(t, fdnet.WithSpin(time.Minute), fdnet.WithBufferSize(64))
	full := make([]byte, 64)
	for i := range full {
		full[i] = byte(i)
	}
	if n, err := a.Write(full); n != 64 || err != nil {
		t.Fatalf("Write into the empty ring: %d, %v", n, err)
	}
	var one [1]byte
	if n, err := b.Read(one[:]); n != 1 || err != nil || one[0] != 0 {
		t.Fatalf("Read: %d, %v, %d", n, err, one[0])
	}
	if err := a.SetWriteDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var n int
	res := async(func() (err error) { n, err = a.Write([]byte{64, 65, 66}); return err })
	checkTimeout(t, await(t, res))
	if n > 1 {
		t.Fatalf("Write put %d bytes into 1 free", n)
	}
	a.SetWriteDeadline(time.Time{})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(b)
	if err != nil || len(rest) != 63+n {
		t.Fatalf("read %d bytes after the first, %v; want %d", len(rest), err, 63+n)
	}
	for i, c := range rest {
		if c != byte(i+1) {
			t.Fatalf("byte %d = %d, want %d", i+1, c, i+1)
		}
	}
}
