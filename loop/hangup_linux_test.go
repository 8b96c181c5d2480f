package loop

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestPeerHalfCloseSeen: a watched socket whose peer shuts its write side
// down (a half-close, not a close) reports EventHangup with EventReadable on
// both backends (EPOLLRDHUP, POLLRDHUP), while plain data reports readable
// alone.
func TestPeerHalfCloseSeen(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fds[0])
		defer unix.Close(fds[1])
		l := newLoop(t, opts...)
		events := make(chan Event, 64)
		var tok Token
		h := HandlerFunc(func(got Token, ev Event) {
			var buf [64]byte
			for range 16 {
				if n, err := unix.Read(fds[0], buf[:]); n <= 0 || err != nil {
					break
				}
			}
			if ev.IsHangup() {
				// Level-triggered: stop before the hangup is reported again.
				if err := l.Modify(got, 0); err != nil {
					t.Error(err)
				}
			}
			select {
			case events <- ev:
			default:
			}
		})
		if tok, err = l.WatchFd(fds[0], h, Readable); err != nil {
			t.Fatal(err)
		}
		r := start(t, l)

		if _, err := unix.Write(fds[1], []byte("data")); err != nil {
			t.Fatal(err)
		}
		if ev := waitCh(t, events, "the data's event"); ev != EventReadable {
			t.Fatalf("data: event %v, want readable", ev)
		}
		if err := unix.Shutdown(fds[1], unix.SHUT_WR); err != nil {
			t.Fatal(err)
		}
		// At most a few events (spurious readable ones) before the hangup.
		for i := 0; ; i++ {
			ev := waitCh(t, events, "the half-close's event")
			if ev.IsHangup() {
				if !ev.IsReadable() {
					t.Errorf("half-close: event %v, want readable|hangup", ev)
				}
				break
			}
			if i == 8 {
				t.Fatalf("no hangup after 8 events (last %v)", ev)
			}
		}
		r.do(func() {
			if err := l.Unwatch(tok); err != nil {
				t.Error(err)
			}
		})
	})
}
