package loop

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// The OnClose rule (conn.go): OnClose never runs nested inside another
// callback of the loop. Closed during a callback, a Conn's methods fail at
// once and OnClose runs when the callback returns; closed outside any
// callback, OnClose runs before the closing call returns.

// closeRecorder is a ConnHandler that logs its OnClose calls and runs
// onData for each delivery.
type closeRecorder struct {
	name   string
	log    *[]string // loop goroutine only
	onData func(c *Conn)
	closes chan error
}

func (h *closeRecorder) OnOpen(*Conn) {}
func (h *closeRecorder) OnData(c *Conn, _ []byte) {
	if h.onData != nil {
		h.onData(c)
	}
}
func (h *closeRecorder) OnClose(_ *Conn, err error) {
	*h.log = append(*h.log, "OnClose "+h.name)
	h.closes <- err
}

// connPair returns a Conn for one end of a unix socketpair, served by l
// with h, and the other end's fd.
func connPair(t *testing.T, l *Loop, h ConnHandler) (*Conn, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	c, err := l.WatchConnFd(fds[0], h)
	if err != nil {
		t.Fatal(err)
	}
	return c, fds[1]
}

// checkClosing fails unless c, closed during the running callback, already
// acts closed while its OnClose has not run.
func checkClosing(t *testing.T, c *Conn, log []string) {
	t.Helper()
	if len(log) != 0 {
		t.Errorf("OnClose ran inside the callback: %v", log)
	}
	if !c.Closed() || c.Fd() != -1 {
		t.Errorf("closing Conn: Closed %v, Fd %d; want true, -1", c.Closed(), c.Fd())
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write on a closing Conn = %v, want ErrClosed", err)
	}
}

func TestOnCloseAfterCallback(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		t.Run("Close in OnData", func(t *testing.T) {
			l := newLoop(t, opts...)
			var log []string
			h := &closeRecorder{name: "a", log: &log, closes: make(chan error, 2)}
			h.onData = func(c *Conn) {
				c.Close()
				checkClosing(t, c, log)
				log = append(log, "OnData returns")
			}
			_, peer := connPair(t, l, h)
			start(t, l)
			if _, err := unix.Write(peer, []byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := waitCh(t, h.closes, "OnClose"); err != nil {
				t.Errorf("OnClose(%v), want nil", err)
			}
			want := "[OnData returns OnClose a]"
			if got := fmt.Sprint(log); got != want {
				t.Errorf("order %s, want %s", got, want)
			}
		})
		t.Run("failed Write in OnData", func(t *testing.T) {
			l := newLoop(t, opts...)
			var log []string
			h := &closeRecorder{name: "a", log: &log, closes: make(chan error, 2)}
			var werr error
			h.onData = func(c *Conn) {
				if _, werr = c.Write([]byte("reply")); werr == nil {
					t.Error("Write to a closed peer succeeded")
				}
				checkClosing(t, c, log)
				log = append(log, "OnData returns")
			}
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			// The peer writes and is gone before the loop reads: the
			// reply's Write fails with EPIPE.
			if _, err := unix.Write(fds[1], []byte("x")); err != nil {
				t.Fatal(err)
			}
			unix.Close(fds[1])
			if _, err := l.WatchConnFd(fds[0], h); err != nil {
				t.Fatal(err)
			}
			start(t, l)
			err = waitCh(t, h.closes, "OnClose")
			if !errors.Is(err, unix.EPIPE) && !errors.Is(err, unix.ECONNRESET) {
				t.Errorf("OnClose(%v), want the write's EPIPE", err)
			}
			if !errors.Is(werr, unix.EPIPE) && !errors.Is(werr, unix.ECONNRESET) {
				t.Errorf("Write = %v, want EPIPE", werr)
			}
			want := "[OnData returns OnClose a]"
			if got := fmt.Sprint(log); got != want {
				t.Errorf("order %s, want %s", got, want)
			}
		})
		t.Run("Close in Post", func(t *testing.T) {
			l := newLoop(t, opts...)
			var log []string
			h := &closeRecorder{name: "a", log: &log, closes: make(chan error, 2)}
			c, _ := connPair(t, l, h)
			r := start(t, l)
			r.do(func() {
				c.Close()
				checkClosing(t, c, log)
			})
			// The posted function returned: OnClose ran right after it.
			if err := waitCh(t, h.closes, "OnClose"); err != nil {
				t.Errorf("OnClose(%v), want nil", err)
			}
		})
		t.Run("Close in OnClose", func(t *testing.T) {
			l := newLoop(t, opts...)
			var log []string
			hb := &closeRecorder{name: "b", log: &log, closes: make(chan error, 2)}
			b, _ := connPair(t, l, hb)
			ha := &closeRecorder{name: "a", log: &log, closes: make(chan error, 2)}
			a, _ := connPair(t, l, &closeChain{closeRecorder: ha, next: b})
			r := start(t, l)
			r.do(func() { a.Close() })
			waitCh(t, ha.closes, "a's OnClose")
			waitCh(t, hb.closes, "b's OnClose")
			want := "[OnClose a a's OnClose returns OnClose b]"
			r.do(func() {
				if got := fmt.Sprint(log); got != want {
					t.Errorf("order %s, want %s", got, want)
				}
			})
		})
		t.Run("Close outside callbacks", func(t *testing.T) {
			l := newLoop(t, opts...)
			var log []string
			h := &closeRecorder{name: "a", log: &log, closes: make(chan error, 2)}
			c, _ := connPair(t, l, h)
			// The loop is not running and no callback runs: at once.
			c.Close()
			if fmt.Sprint(log) != "[OnClose a]" {
				t.Errorf("after Close outside callbacks: log %v, want OnClose done", log)
			}
		})
	})
}

// closeChain closes next from its own OnClose.
type closeChain struct {
	*closeRecorder
	next *Conn
}

func (h *closeChain) OnClose(c *Conn, err error) {
	h.closeRecorder.OnClose(c, err)
	h.next.Close()
	*h.log = append(*h.log, "a's OnClose returns")
}
