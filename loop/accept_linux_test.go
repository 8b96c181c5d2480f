package loop

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// exhaustFds lowers RLIMIT_NOFILE to a little above what the process uses
// and then takes every fd left, so the next fd anyone asks for fails with
// EMFILE. The returned function gives them back and restores the limit; it
// also runs at Cleanup, so a failing test leaves the process as it was.
func exhaustFds(t *testing.T) (restore func()) {
	t.Helper()
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := pipe(t)
	var held []int
	done := false
	restore = func() {
		if done {
			return
		}
		done = true
		for _, fd := range held {
			unix.Close(fd)
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
			t.Errorf("restore RLIMIT_NOFILE: %v", err)
		}
	}
	t.Cleanup(restore)
	lim := unix.Rlimit{Cur: uint64(len(entries) + 16), Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	for range lim.Cur + 1 {
		fd, err := unix.FcntlInt(uintptr(r), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			if !errors.Is(err, unix.EMFILE) {
				t.Fatalf("filling the fd table: %v", err)
			}
			return restore
		}
		held = append(held, fd)
	}
	t.Fatalf("%d fds taken and still no EMFILE under a limit of %d", len(held), lim.Cur)
	return nil
}

// acceptCounts is what the loop counted while out of fds.
type acceptCounts struct{ errors, backoffs, events, accepted uint64 }

// TestAcceptBackoff: out of fds, accept fails (EMFILE) and the connection
// stays in the backlog, so the listener stays readable. The loop used to
// retry every round, at 100% CPU. It must stop watching the listener and
// retry on a timer with a growing delay, then accept the waiting clients
// once fds are free, and reset the delay.
func TestAcceptBackoff(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		const clients, backoffs = 4, 5
		l := newLoop(t, opts...)
		h := newEcho()
		ln, err := l.Listen("tcp", "127.0.0.1:0", h)
		if err != nil {
			t.Fatal(err)
		}
		// The clients connect before the loop runs: they wait in the backlog.
		conns := make([]net.Conn, clients)
		for i := range conns {
			if conns[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
				t.Fatal(err)
			}
			defer conns[i].Close()
		}
		// Sample the counters on the loop (its timers run every round,
		// spinning or not) once it backed off often enough, or once it
		// failed so many accepts that it clearly does not back off.
		sampled := make(chan acceptCounts, 1)
		var watch *Timer
		watch = l.Every(time.Millisecond, func() {
			c := &l.counts.local
			if c[cAcceptBackoffs] >= backoffs || c[cAcceptErrors] >= 10_000 {
				watch.Stop()
				sampled <- acceptCounts{c[cAcceptErrors], c[cAcceptBackoffs], c[cEvents], c[cAccepted]}
			}
		})
		restore := exhaustFds(t)
		run := start(t, l)
		got := waitCh(t, sampled, "the loop to back off")
		restore()
		t.Logf("out of fds: %+v", got)
		// Each backoff follows exactly one failed accept, and the listener
		// is polled once per retry; allow plenty for spurious events.
		if got.backoffs < backoffs || got.errors > 2*got.backoffs+10 || got.events > 2*got.backoffs+10 || got.accepted != 0 {
			t.Fatalf("out of fds the loop counted %+v: it does not back off", got)
		}

		// With fds back, every waiting client is accepted and served.
		for range clients {
			waitCh(t, h.opened, "a waiting client to be accepted")
		}
		for i, nc := range conns {
			roundTrip(t, nc, pattern(i, 1024))
		}
		var delay time.Duration
		var retrying bool
		run.do(func() { delay, retrying = ln.delay, ln.retry != nil })
		if delay != 0 || retrying {
			t.Errorf("after a successful accept: delay %v, retry pending %v; want 0, false", delay, retrying)
		}
		if err := run.stop(); err != nil {
			t.Fatal(err)
		}
		if st := l.Stats(); st.Accepted != clients || st.AcceptErrors < backoffs || st.AcceptBackoffs < backoffs {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestAcceptBackoffClose: closing a listener that waits out a backoff
// cancels the retry; the loop goes on and nothing fires for it.
func TestAcceptBackoffClose(t *testing.T) {
	l := newLoop(t)
	ln, err := l.Listen("tcp", "127.0.0.1:0", newEcho())
	if err != nil {
		t.Fatal(err)
	}
	ln.backOff()
	if ln.retry == nil || ln.delay != acceptDelayMin {
		t.Fatalf("after one backoff: retry %v, delay %v", ln.retry, ln.delay)
	}
	retry := ln.retry
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if ln.retry != nil || retry.Stop() {
		t.Fatal("Close left the retry timer pending")
	}
}

// TestAcceptDelay: 5 ms, doubling, at most 1 s.
func TestAcceptDelay(t *testing.T) {
	d := time.Duration(0)
	var got []time.Duration
	for range 10 {
		d = nextAcceptDelay(d)
		got = append(got, d)
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
}
