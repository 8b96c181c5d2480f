package notify

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// kind is one way of making a Notifier. Every Notifier test runs once per
// kind.
type kind struct {
	name string
	make func() (Notifier, error)
	// ours: notify created the fds, so they must be close-on-exec.
	ours bool
	// hangupWakes: Signal writes to a second fd, and closing that makes
	// Fd readable forever (end of file), which a Waiter reports as a
	// wakeup. A datagram socket has no end of file.
	hangupWakes bool
}

// kinds lists every kind available on this platform: the portable ones and
// platformKinds.
func kinds() []kind {
	ks := []kind{
		{name: "pipe", make: NewPipe, ours: true, hangupWakes: true},
		{name: "New", make: New, ours: true, hangupWakes: newIsPipe},
		{name: "FromFds/pipe", make: fromPipe, hangupWakes: true},
		{name: "FromFds/socketpair-stream", make: fromSocketpair(unix.SOCK_STREAM), hangupWakes: true},
		{name: "FromFds/socketpair-dgram", make: fromSocketpair(unix.SOCK_DGRAM)},
	}
	return append(ks, platformKinds()...)
}

// fromPipe wraps a blocking, inheritable pipe, as a caller might bring one.
func fromPipe() (Notifier, error) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		return nil, err
	}
	n, err := FromFds(p[0], p[1])
	if err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
	}
	return n, err
}

func fromSocketpair(typ int) func() (Notifier, error) {
	return func() (Notifier, error) {
		sv, err := unix.Socketpair(unix.AF_UNIX, typ, 0)
		if err != nil {
			return nil, err
		}
		n, err := FromFds(sv[0], sv[1])
		if err != nil {
			unix.Close(sv[0])
			unix.Close(sv[1])
		}
		return n, err
	}
}

// mustMake makes a Notifier of kind k, closed when the test ends.
func mustMake(t testing.TB, k kind) Notifier {
	t.Helper()
	n, err := k.make()
	if err != nil {
		t.Fatalf("%s: %v", k.name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// readable polls fd without blocking.
func readable(t testing.TB, fd int) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("poll fd %d: %v", fd, err)
		}
		return n > 0 && fds[0].Revents&unix.POLLIN != 0
	}
}

func mustWrite(t testing.TB, fd int) {
	t.Helper()
	if _, err := unix.Write(fd, []byte{1}); err != nil {
		t.Fatalf("write fd %d: %v", fd, err)
	}
}

func mustSignal(t testing.TB, n Notifier) {
	t.Helper()
	if err := n.Signal(); err != nil {
		t.Fatalf("Signal: %v", err)
	}
}

func mustClear(t testing.TB, n Notifier) {
	t.Helper()
	if err := n.Clear(); err != nil {
		t.Fatalf("Clear: %v", err)
	}
}

// notifierFds returns the read and write fds behind n.
func notifierFds(t testing.TB, n Notifier) (rfd, wfd int) {
	t.Helper()
	fn, ok := n.(*fdNotifier)
	if !ok {
		t.Fatalf("notifier is %T, want *fdNotifier", n)
	}
	return fn.rfd, fn.wfd
}

func TestNotifier(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			t.Run("FreshNotReadable", func(t *testing.T) {
				n := mustMake(t, k)
				if readable(t, n.Fd()) {
					t.Fatal("fresh notifier is readable")
				}
				mustClear(t, n) // clearing nothing is fine
				if readable(t, n.Fd()) {
					t.Fatal("readable after Clear of a fresh notifier")
				}
			})
			t.Run("SignalClear", func(t *testing.T) {
				n := mustMake(t, k)
				for range 3 {
					mustSignal(t, n)
					if !readable(t, n.Fd()) {
						t.Fatal("not readable after Signal")
					}
					mustClear(t, n)
					if readable(t, n.Fd()) {
						t.Fatal("readable after Clear")
					}
				}
			})
			t.Run("Coalesce", func(t *testing.T) {
				n := mustMake(t, k)
				for range 1000 {
					mustSignal(t, n)
				}
				mustClear(t, n)
				if readable(t, n.Fd()) {
					t.Fatal("one Clear did not consume 1000 Signals")
				}
			})
			t.Run("SignalWhenFull", func(t *testing.T) {
				// Far more than a pipe or socket buffer holds: once full,
				// the write fails with EAGAIN, which is "already signalled".
				n := mustMake(t, k)
				for i := range 100_000 {
					if err := n.Signal(); err != nil {
						t.Fatalf("Signal %d: %v", i, err)
					}
				}
				if !readable(t, n.Fd()) {
					t.Fatal("not readable after 100000 Signals")
				}
				mustClear(t, n)
				if readable(t, n.Fd()) {
					t.Fatal("readable after Clear of a full notifier")
				}
				mustSignal(t, n)
				if !readable(t, n.Fd()) {
					t.Fatal("not readable after Signal following a full Clear")
				}
			})
			t.Run("Flags", func(t *testing.T) {
				n := mustMake(t, k)
				rfd, wfd := notifierFds(t, n)
				for _, fd := range []int{rfd, wfd} {
					fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
					if err != nil {
						t.Fatalf("F_GETFL fd %d: %v", fd, err)
					}
					if fl&unix.O_NONBLOCK == 0 {
						t.Errorf("fd %d is blocking", fd)
					}
					if !k.ours {
						continue
					}
					fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
					if err != nil {
						t.Fatalf("F_GETFD fd %d: %v", fd, err)
					}
					if fdfl&unix.FD_CLOEXEC == 0 {
						t.Errorf("fd %d is not close-on-exec", fd)
					}
				}
			})
			t.Run("CloseIdempotent", func(t *testing.T) {
				n, err := k.make()
				if err != nil {
					t.Fatal(err)
				}
				rfd, wfd := notifierFds(t, n)
				for i := range 3 {
					if err := n.Close(); err != nil {
						t.Fatalf("Close %d: %v", i, err)
					}
				}
				for _, fd := range []int{rfd, wfd} {
					if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
						t.Errorf("fd %d after Close: F_GETFD error %v, want EBADF", fd, err)
					}
				}
			})
			t.Run("UseAfterClose", func(t *testing.T) {
				// The closed fd numbers are reused by the next open; a
				// Signal after Close must not write into the newcomer.
				n, err := k.make()
				if err != nil {
					t.Fatal(err)
				}
				n.Close()
				var p [2]int
				if err := unix.Pipe(p[:]); err != nil {
					t.Fatal(err)
				}
				defer unix.Close(p[0])
				defer unix.Close(p[1])
				// Non-blocking, so that a Clear reading the newcomer
				// fails the test instead of hanging it.
				for _, fd := range p {
					if err := unix.SetNonblock(fd, true); err != nil {
						t.Fatal(err)
					}
				}
				mustWrite(t, p[1])
				if err := n.Signal(); !errors.Is(err, ErrClosed) {
					t.Errorf("Signal after Close: %v, want ErrClosed", err)
				}
				if err := n.Clear(); !errors.Is(err, ErrClosed) {
					t.Errorf("Clear after Close: %v, want ErrClosed", err)
				}
				// The newcomer holds exactly the one byte written above.
				var buf [8]byte
				if got, err := unix.Read(p[0], buf[:]); got != 1 || err != nil {
					t.Errorf("reused fd holds %d bytes (%v), want 1: Signal or Clear after Close touched it", got, err)
				}
			})
		})
	}
}

// TestCloseWhileSignalling closes notifiers while other goroutines Signal
// and Clear them: each call either works or reports ErrClosed, and none
// touches an fd after Close released it (the race detector checks the
// bookkeeping).
func TestCloseWhileSignalling(t *testing.T) {
	ctx := testContext(t)
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			for range 50 {
				n, err := k.make()
				if err != nil {
					t.Fatal(err)
				}
				errc := make(chan error, 2)
				ready := make(chan struct{}, 2)
				for _, op := range []func() error{n.Signal, n.Clear} {
					go func() {
						ready <- struct{}{}
						for {
							if err := op(); err != nil {
								if errors.Is(err, ErrClosed) {
									err = nil
								}
								errc <- err
								return
							}
						}
					}()
				}
				<-ready
				<-ready
				if err := n.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				for range 2 {
					select {
					case err := <-errc:
						if err != nil {
							t.Fatalf("Signal or Clear racing Close: %v", err)
						}
					case <-ctx.Done():
						t.Fatal("Signal or Clear still running after Close")
					}
				}
			}
		})
	}
}

func TestFromFdsRejectsNegative(t *testing.T) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	for _, fds := range [][2]int{{-1, -1}, {-1, p[1]}, {p[0], -1}, {-5, -5}} {
		n, err := FromFds(fds[0], fds[1])
		if err == nil {
			n.Close()
			t.Errorf("FromFds(%d, %d): nil error", fds[0], fds[1])
		}
		if n != nil {
			t.Errorf("FromFds(%d, %d): non-nil notifier on error", fds[0], fds[1])
		}
	}
	// A rejected call takes no ownership: the caller's fds are still open.
	for _, fd := range p {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			t.Errorf("fd %d closed by a failed FromFds: %v", fd, err)
		}
	}
}

func TestFromFdsRejectsBadFd(t *testing.T) {
	// An fd number that is not open: SetNonblock fails with EBADF.
	fd, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if n, err := FromFds(fd, fd); !errors.Is(err, unix.EBADF) {
		if n != nil {
			n.Close()
		}
		t.Fatalf("FromFds(closed fd): %v, want EBADF", err)
	}
}

func TestSignalClearAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes the syscall buffers escape")
	}
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			n := mustMake(t, k)
			if a := testing.AllocsPerRun(100, func() { n.Signal() }); a != 0 {
				t.Errorf("Signal allocates %v times", a)
			}
			if a := testing.AllocsPerRun(100, func() { n.Clear() }); a != 0 {
				t.Errorf("Clear allocates %v times", a)
			}
		})
	}
}

func BenchmarkSignalClear(b *testing.B) {
	for _, k := range kinds() {
		b.Run(k.name, func(b *testing.B) {
			n := mustMake(b, k)
			b.ReportAllocs()
			for b.Loop() {
				if err := n.Signal(); err != nil {
					b.Fatal(err)
				}
				if err := n.Clear(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
