package fdring_test

import (
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/loop"
	"golang.org/x/sys/unix"
)

// TestSignalStorm streams through sleeping waits and a loop while another
// goroutine keeps signalling the process, so blocking syscalls (epoll_wait,
// reads of eventfds) keep getting interrupted: nothing may be lost, and no
// EINTR may surface.
func TestSignalStorm(t *testing.T) {
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	stop := make(chan struct{})
	stormDone := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				stormDone <- n
				return
			default:
			}
			syscall.Kill(os.Getpid(), syscall.SIGUSR1)
			n++
			select {
			case <-sigs:
			default:
			}
		}
	}()
	defer func() {
		close(stop)
		t.Logf("%d signals sent", <-stormDone)
	}()

	// Blocking waits with no spin: every hand-off sleeps on an eventfd.
	tx, rx := newChan[uint64](t, 4, fdring.WithSpin(0))
	stream(t, tx, rx, 100_000)

	// A loop sleeping in epoll_wait between messages.
	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	tx2, rx2 := newChan[uint64](t, 8, fdring.WithSpin(0))
	done := make(chan error, 1)
	var count uint64
	ringSink(t, l, rx2, func(n uint64, err error) { count = n; done <- err; l.Stop() })
	wait := runLoop(t, l)
	if err := produceSeq(testCtx(t), tx2, 50_000); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != io.EOF || count != 50_000 {
		t.Fatalf("loop consumer: %d items, %v", count, err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

// TestFdLimit lowers RLIMIT_NOFILE so that New, Dial, Accept and Watch run
// out of fds: each must fail with an error, and leak nothing.
func TestFdLimit(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	l := listen(t)
	lp, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	defer lp.Close()
	before := fdCount(t)
	failures := 0
	for headroom := 0; headroom < 12; headroom++ {
		lim := unix.Rlimit{Cur: uint64(before + headroom), Max: old.Max}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		var errs []error
		// New needs two fds (eventfds), plus one per waiter.
		if tx, rx, err := fdring.New[uint64](8); err != nil {
			errs = append(errs, err)
		} else {
			tok, werr := lp.Watch(rx, loop.HandlerFunc(func(loop.Token, loop.Event) {}), loop.Readable)
			if werr != nil {
				errs = append(errs, werr)
			}
			tx.Close()
			rx.Close()
			if werr == nil {
				// A watched side keeps its fd until the loop lets go of it.
				if err := lp.Unwatch(tok); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Dial needs a socket, a memfd and two eventfds; Accept the
		// other side of all of them.
		dialed := make(chan error, 1)
		go func() {
			tx, err := fdring.Dial[uint64](l.Path(), 8)
			if err == nil {
				tx.Close()
			}
			dialed <- err
		}()
		rx, err := fdring.AcceptContext[uint64](testCtx(t), l)
		unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
		if err != nil {
			errs = append(errs, err)
			if errors.Is(err, unix.EMFILE) {
				// accept4 failed: the dialer is still queued. Take it
				// now, so it is not left waiting for its reply.
				rx, err = fdring.AcceptContext[uint64](testCtx(t), l)
			}
		}
		if err == nil {
			rx.Close()
		}
		if err := <-dialed; err != nil {
			errs = append(errs, err)
		}
		failures += len(errs)
		for _, err := range errs {
			if !errors.Is(err, unix.EMFILE) && !errors.Is(err, fdring.ErrHandshake) {
				t.Errorf("headroom %d: unexpected error %v", headroom, err)
			}
		}
		if after := fdCount(t); after != before {
			t.Fatalf("headroom %d: %d fds before, %d after (errors: %v)", headroom, before, after, errs)
		}
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if failures == 0 {
		t.Fatal("the lowered limit never made anything fail: the test tested nothing")
	}
	t.Logf("%d operations failed cleanly under the lowered limit", failures)
}
