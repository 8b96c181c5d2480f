package loop

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// What a closed loop still hands out: every kind of object a caller may hold
// when the loop closes under it.
type closeFixture struct {
	once, tick *Timer
	src        Token
	conn       *Conn
	peer       int // the other end of conn's socketpair
	ln         *Listener
	connErr    chan error
}

// closeHandler records a Conn's OnClose.
type closeHandler struct{ closed chan error }

func (h *closeHandler) OnOpen(*Conn)             {}
func (h *closeHandler) OnData(*Conn, []byte)     {}
func (h *closeHandler) OnClose(_ *Conn, e error) { h.closed <- e }

// newCloseFixture registers one of everything on l (which must not be
// running, or this must run on its goroutine).
func newCloseFixture(t *testing.T, l *Loop) *closeFixture {
	t.Helper()
	f := &closeFixture{connErr: make(chan error, 1)}
	f.once = l.After(time.Hour, func() { t.Error("timer fired") })
	f.tick = l.Every(time.Hour, func() { t.Error("ticker fired") })
	r, _ := pipe(t)
	var err error
	if f.src, err = l.Watch(FD(r), HandlerFunc(func(Token, Event) {}), Readable); err != nil {
		t.Fatal(err)
	}
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.peer = sp[1]
	t.Cleanup(func() { unix.Close(sp[1]) })
	if f.conn, err = l.WatchConnFd(sp[0], &closeHandler{closed: f.connErr}); err != nil {
		t.Fatal(err)
	}
	if f.ln, err = l.Listen("tcp", "127.0.0.1:0", newEcho()); err != nil {
		t.Fatal(err)
	}
	return f
}

// checkAfterClose calls every loop-goroutine-only method on a loop that was
// closed and released: each must report ErrClosed or do nothing, and none
// may panic.
func checkAfterClose(t *testing.T, l *Loop, f *closeFixture) {
	t.Helper()
	if err := waitCh(t, f.connErr, "OnClose"); !errors.Is(err, ErrClosed) {
		t.Errorf("OnClose(%v), want ErrClosed", err)
	}
	// Timers: a closed loop runs none, so nothing is pending.
	if f.once.Stop() || f.tick.Stop() {
		t.Error("Stop after Close reported a pending timer")
	}
	late := l.After(0, func() { t.Error("timer created after Close fired") })
	if late.Stop() {
		t.Error("a timer created after Close is pending")
	}
	if l.Every(time.Millisecond, func() {}).Stop() {
		t.Error("a ticker created after Close is pending")
	}
	// Tokens.
	if err := l.Modify(f.src, Writable); !errors.Is(err, ErrClosed) {
		t.Errorf("Modify after Close = %v, want ErrClosed", err)
	}
	if err := l.Unwatch(f.src); !errors.Is(err, ErrClosed) {
		t.Errorf("Unwatch after Close = %v, want ErrClosed", err)
	}
	if err := l.Unwatch(Token{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Unwatch(zero Token) after Close = %v, want ErrClosed", err)
	}
	r, _ := pipe(t)
	if _, err := l.Watch(FD(r), HandlerFunc(func(Token, Event) {}), Readable); !errors.Is(err, ErrClosed) {
		t.Errorf("Watch after Close = %v, want ErrClosed", err)
	}
	// The Conn.
	c := f.conn
	if !c.Closed() || c.Buffered() != 0 || c.Fd() != -1 {
		t.Errorf("conn after Close: closed %v, buffered %d, fd %d", c.Closed(), c.Buffered(), c.Fd())
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write = %v", err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Read = %v", err)
	}
	for name, fn := range map[string]func() error{
		"PauseRead":  c.PauseRead,
		"ResumeRead": c.ResumeRead,
		"CloseWrite": c.CloseWrite,
		"Detach":     func() error { _, err := c.Detach(); return err },
	} {
		if err := fn(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	c.SetHalfClose(true)
	if err := c.Close(); err != nil {
		t.Errorf("Close of a closed conn = %v", err)
	}
	select {
	case err := <-f.connErr:
		t.Errorf("OnClose called again (%v)", err)
	default:
	}
	// The peer sees the end.
	var b [1]byte
	if n, err := unix.Read(f.peer, b[:]); n != 0 || err != nil {
		t.Errorf("peer read (%d, %v), want EOF", n, err)
	}
	// The listener.
	if fd := f.ln.Fd(); fd != -1 {
		t.Errorf("listener fd %d after Close, want -1", fd)
	}
	if err := f.ln.Close(); err != nil {
		t.Errorf("Listener.Close after Close = %v", err)
	}
	if _, err := net.Dial("tcp", f.ln.Addr().String()); err == nil {
		t.Error("listener still accepts after Close")
	}
	if _, err := l.Listen("tcp", "127.0.0.1:0", newEcho()); !errors.Is(err, ErrClosed) {
		t.Errorf("Listen after Close = %v", err)
	}
	// Everything that works from any goroutine.
	if err := l.Post(func() {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Post after Close = %v", err)
	}
	if err := l.NewWaker(nil).Wake(); !errors.Is(err, ErrClosed) {
		t.Errorf("Wake after Close = %v", err)
	}
	l.Stop()
	_ = l.Stats()
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := l.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v", err)
	}
}

// TestTimerStopAfterClose: Timer.Stop after Loop.Close used to index the
// released heap and panic. Stop, and every other timer, Token, Conn and
// Listener method, is safe on a closed loop.
func TestTimerStopAfterClose(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		t.Run("never run", func(t *testing.T) {
			l := newLoop(t, opts...)
			f := newCloseFixture(t, l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			checkAfterClose(t, l, f)
		})
		t.Run("closed while running", func(t *testing.T) {
			l := newLoop(t, opts...)
			run := start(t, l)
			var f *closeFixture
			run.do(func() { f = newCloseFixture(t, l) })
			// Close from another goroutine; Run releases on its way out.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := run.wait(); err != nil {
				t.Fatal(err)
			}
			checkAfterClose(t, l, f)
		})
		t.Run("closed from a timer", func(t *testing.T) {
			l := newLoop(t, opts...)
			f := newCloseFixture(t, l)
			other := l.After(time.Hour, func() { t.Error("timer fired") })
			stopped := make(chan bool, 1)
			l.After(0, func() {
				l.Close()
				// The loop still runs this round: its timers are intact.
				stopped <- other.Stop()
			})
			run := start(t, l)
			if err := run.wait(); err != nil {
				t.Fatal(err)
			}
			if !waitCh(t, stopped, "timer callback") {
				t.Error("Stop inside the closing round reported false")
			}
			checkAfterClose(t, l, f)
		})
	})
}

// TestWakeAfterClose: a Wake still pending when the loop closed (its run was
// dropped) must not make later Wakes report success.
func TestWakeAfterClose(t *testing.T) {
	l := newLoop(t)
	w := l.NewWaker(func() { t.Error("waker ran on a closed loop") })
	if err := w.Wake(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Wake(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wake after Close = %v, want ErrClosed", err)
	}
}

// TestWatchConnAfterClose: WatchConn on a closed loop fails without taking
// the caller's connection away.
func TestWatchConnAfterClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	l := newLoop(t)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.WatchConn(nc, newEcho()); !errors.Is(err, ErrClosed) {
		t.Fatalf("WatchConn after Close = %v, want ErrClosed", err)
	}
	nc.SetDeadline(time.Now().Add(testTimeout))
	if _, err := nc.Write([]byte("still mine")); err != nil {
		t.Fatalf("the caller's conn after a failed WatchConn: %v", err)
	}
}

// TestCloseFromAnywhere: a Group.Stop and a Group.Close race each other and
// everything else at once: clients streaming through the loops, Posts,
// Wakes and Stats from other goroutines. Nothing panics or races, Run
// returns nil, every connection gets its OnClose, and every call made
// after the close reports ErrClosed.
func TestCloseFromAnywhere(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		const clients = 6
		g, h, addr, errc := startGroup(t, 2, opts...)
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		var wg sync.WaitGroup
		// Clients: echo 4 KiB at a time until the server goes away.
		served := make(chan struct{}, clients)
		for i := range clients {
			nc, _ := dialEcho(t, addr, h)
			nc.SetDeadline(time.Now().Add(testTimeout))
			wg.Go(func() {
				msg, buf := pattern(i, 4096), make([]byte, 4096)
				for n := 0; n < 100_000 && ctx.Err() == nil; n++ {
					if _, err := nc.Write(msg); err != nil {
						return
					}
					if _, err := io.ReadFull(nc, buf); err != nil {
						return
					}
					if n == 0 {
						served <- struct{}{}
					}
				}
			})
		}
		// Posts, Wakes and Stats from other goroutines, until ErrClosed.
		for _, l := range g.Loops() {
			w := l.NewWaker(nil)
			wg.Go(func() {
				for n := 0; n < 1_000_000 && ctx.Err() == nil; n++ {
					_ = l.Stats()
					if err := w.Wake(); err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("Wake: %v", err)
						}
						return
					}
					if err := l.Post(func() {}); err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("Post: %v", err)
						}
						return
					}
					if n%64 == 0 {
						runtime.Gosched()
					}
				}
				t.Error("Post kept working: the loop did not close")
			})
		}
		for range clients {
			waitCh(t, served, "a client to be served")
		}
		closed := make(chan error, 1)
		go g.Stop()
		go func() { closed <- g.Close() }()
		if err := waitCh(t, closed, "Group.Close"); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := waitCh(t, errc, "Group.Run"); err != nil {
			t.Errorf("Run: %v", err)
		}
		for range clients {
			if err := waitCh(t, h.closed, "OnClose"); err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("OnClose(%v), want nil or ErrClosed", err)
			}
		}
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()
		waitCh(t, finished, "the clients and posters to finish")
		for i, l := range g.Loops() {
			if st := l.Stats(); st.Conns != 0 {
				t.Errorf("loop %d counts %d conns after Close", i, st.Conns)
			}
		}
		if err := g.Run(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Run after Close = %v", err)
		}
	})
}
