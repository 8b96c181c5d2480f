package fdnet_test

import (
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/fdring/fdring/fdnet"
)

// testTimeout bounds every blocking step of a test: generous, for a loaded
// two-core machine under the race detector.
const testTimeout = 30 * time.Second

// pipe returns a Pipe pair that the test closes when it ends.
func pipe(t testing.TB, opts ...fdnet.Option) (*fdnet.Conn, *fdnet.Conn) {
	t.Helper()
	a, b, err := fdnet.Pipe(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

// async runs f on a new goroutine; the channel delivers its result.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// await returns what ch delivers, or fails the test after testTimeout.
func await(t testing.TB, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(testTimeout):
		t.Fatal("blocked call did not return")
		return nil
	}
}

// readSleeps and writeSleeps count how often c's reading or writing side
// went to sleep on its wakeup fd.
func readSleeps(c *fdnet.Conn) uint64  { r, _ := fdnet.Sleeps(c); return r }
func writeSleeps(c *fdnet.Conn) uint64 { _, w := fdnet.Sleeps(c); return w }

// waitSleeping returns once sleeps() exceeds base: the call under test has
// spun, declared that it sleeps and is parked (or about to park) on its
// fd. It polls a counter; it does not guess with a sleep.
func waitSleeping(t testing.TB, sleeps func() uint64, base uint64) {
	t.Helper()
	end := time.Now().Add(testTimeout)
	for sleeps() <= base {
		if time.Now().After(end) {
			t.Fatal("the call under test never blocked")
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// checkTimeout fails the test unless err is a deadline error as net.Conn
// describes it.
func checkTimeout(t testing.TB, err error) {
	t.Helper()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %T %v, want a net.Error with Timeout() wrapping os.ErrDeadlineExceeded", err, err)
	}
}

// checkClosed fails the test unless err reports a use of the closed Conn.
func checkClosed(t testing.TB, err error) {
	t.Helper()
	var ne net.Error
	if !errors.Is(err, net.ErrClosed) || !errors.As(err, &ne) || ne.Timeout() {
		t.Fatalf("got %T %v, want a net.Error wrapping net.ErrClosed", err, err)
	}
}

// stream is a reproducible pseudo-random byte stream: the writer and the
// checker of a test make the same one from the same seed.
type stream struct {
	rng  *rand.ChaCha8
	left int64
}

func newStream(seed uint64, n int64) *stream {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return &stream{rng: rand.NewChaCha8(s), left: n}
}

// Read implements io.Reader only (no WriterTo), so that io.Copy into a
// Conn goes through ReadFrom.
func (s *stream) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.left)]
	s.rng.Read(p)
	s.left -= int64(len(p))
	return len(p), nil
}

// digest returns the SHA-256 of the stream newStream(seed, n) makes.
func digest(seed uint64, n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, newStream(seed, n))
	return sum(h)
}

func sum(h hash.Hash) (s [32]byte) {
	h.Sum(s[:0])
	return s
}

// zeros is an endless reader of zeros (no WriterTo).
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
