package loop_test

import (
	"context"
	"errors"
	"net"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fdring/fdring/loop"
	"golang.org/x/sys/unix"
)

// Lifecycle: every method of a Loop and of what it handed out (Timer, Token,
// Waker, Listener, Conn), and of a Group, called after Close, from the one
// goroutine that holds the loop once Run returned (see doc.go). None panics;
// the ones that register something or need the loop fail with an error
// (ErrClosed, or for a Token of the closed loop ErrStaleToken or
// ErrUnknownToken); Close is idempotent. The loop is closed three ways:
// while idle, from another goroutine while it runs, and from its own Post
// function. The root package's lifecycle tests cover a loop closed while a
// ring handler holds ring memory.

const lcPrompt = 5 * time.Second

type lcCase struct {
	method string
	run    func(t *testing.T)
}

// lcRunCases checks that cases cover every exported method of v's type (and
// no method it lacks), then runs each as a subtest that fails on a panic.
func lcRunCases(t *testing.T, v any, cases []lcCase) {
	t.Helper()
	typ := reflect.TypeOf(v)
	have := map[string]bool{}
	for _, c := range cases {
		have[c.method] = true
	}
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		if !have[name] {
			t.Errorf("%v.%s is not in the after-Close table: add a case for it", typ, name)
		}
		delete(have, name)
	}
	for name := range have {
		t.Errorf("the after-Close table has a case for %v.%s, which does not exist", typ, name)
	}
	for _, c := range cases {
		t.Run(c.method, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					stack := strings.Split(string(debug.Stack()), "\n")
					for i, l := range stack {
						if strings.HasPrefix(l, "panic(") {
							stack = stack[min(i+2, len(stack)):]
							break
						}
					}
					t.Fatalf("%v.%s after Close panicked: %v\n\t%s", typ, c.method, r, strings.Join(stack[:min(len(stack), 12)], "\n\t"))
				}
			}()
			c.run(t)
		})
	}
}

// lcWithin runs f on its own goroutine and fails t unless it returns within
// lcPrompt (or panics).
func lcWithin[T any](t *testing.T, what string, f func() T) T {
	t.Helper()
	type out struct {
		v T
		p any
	}
	c := make(chan out, 1)
	go func() {
		var o out
		defer func() {
			o.p = recover()
			c <- o
		}()
		o.v = f()
	}()
	select {
	case o := <-c:
		if o.p != nil {
			t.Fatalf("%s panicked: %v", what, o.p)
		}
		return o.v
	case <-time.After(lcPrompt):
		t.Fatalf("%s did not return within %v", what, lcPrompt)
	}
	panic("unreachable")
}

func lcWantErr(t *testing.T, what string, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if errors.Is(err, target) {
			return
		}
	}
	t.Errorf("%s after Close = %v, want an error wrapping one of %v", what, err, targets)
}

// lcConnHandler records OnClose.
type lcConnHandler struct {
	closes chan error
}

func (lcConnHandler) OnOpen(*loop.Conn)         {}
func (lcConnHandler) OnData(*loop.Conn, []byte) {}
func (h lcConnHandler) OnClose(_ *loop.Conn, err error) {
	select {
	case h.closes <- err:
	default:
	}
}

// lcTCPPair returns both ends of a loopback TCP connection.
func lcTCPPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

func TestLifecycleLoopAfterClose(t *testing.T) {
	backends := []struct {
		name string
		opts []loop.Option
	}{
		{"default", nil},
		{"poll", []loop.Option{loop.WithPoll()}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, how := range []string{"idle", "running", "in-handler"} {
				t.Run(how, func(t *testing.T) { lcLoopAfterClose(t, b.opts, how) })
			}
		})
	}
}

func lcLoopAfterClose(t *testing.T, opts []loop.Option, how string) {
	l, err := loop.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// What the loop hands out, made before Close.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	nop := loop.HandlerFunc(func(loop.Token, loop.Event) {})
	tok, err := l.Watch(loop.FD(pr.Fd()), nop, loop.Readable)
	if err != nil {
		t.Fatal(err)
	}
	ring := &lcRing{t: t, fd: int(pw.Fd())}
	ringTok, err := l.WatchRing(ring, nop, true)
	if err != nil {
		t.Fatal(err)
	}
	after := l.After(time.Hour, func() { t.Error("an After timer fired") })
	every := l.Every(time.Hour, func() { t.Error("an Every timer fired") })
	waker := l.NewWaker(func() {})
	ln, err := l.Listen("tcp", "127.0.0.1:0", lcConnHandler{closes: make(chan error, 1)})
	if err != nil {
		t.Fatal(err)
	}
	h := lcConnHandler{closes: make(chan error, 1)}
	nc, _ := lcTCPPair(t)
	conn, err := l.WatchConn(nc, h)
	if err != nil {
		t.Fatal(err)
	}

	switch how {
	case "idle":
		if err := l.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
	case "running", "in-handler":
		ctx, cancel := context.WithTimeout(context.Background(), 4*lcPrompt)
		defer cancel()
		run := make(chan error, 1)
		go func() { run <- l.Run(ctx) }()
		started := make(chan struct{})
		if err := l.Post(func() { close(started) }); err != nil {
			t.Fatal(err)
		}
		select {
		case <-started:
		case <-time.After(lcPrompt):
			t.Fatal("the loop did not run a Post function")
		}
		if how == "running" {
			if err := l.Close(); err != nil {
				t.Fatalf("Close = %v", err)
			}
		} else if err := l.Post(func() {
			if err := l.Close(); err != nil {
				t.Errorf("Close from a Post function = %v", err)
			}
		}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-run:
			if err != nil {
				t.Errorf("Run after Close = %v, want nil", err)
			}
		case <-time.After(lcPrompt):
			t.Fatal("Run did not return after Close")
		}
	}
	select {
	case err := <-h.closes:
		if !errors.Is(err, loop.ErrClosed) {
			t.Errorf("the Conn's OnClose(%v), want ErrClosed", err)
		}
	default:
		t.Error("the loop's Close did not close its Conn (no OnClose)")
	}

	anyTokenErr := []error{loop.ErrClosed, loop.ErrStaleToken, loop.ErrUnknownToken}
	t.Run("Loop", func(t *testing.T) {
		lcRunCases(t, l, []lcCase{
			{"Close", func(t *testing.T) {
				if err := l.Close(); err != nil {
					t.Errorf("second Close = %v, want nil", err)
				}
			}},
			{"Run", func(t *testing.T) {
				err := lcWithin(t, "Run after Close", func() error { return l.Run(context.Background()) })
				lcWantErr(t, "Run", err, loop.ErrClosed)
			}},
			{"Stop", func(t *testing.T) { l.Stop() }},
			{"Stats", func(t *testing.T) {
				if st := l.Stats(); st.Conns != 0 {
					t.Errorf("Stats after Close: %d conns, want 0", st.Conns)
				}
			}},
			{"Post", func(t *testing.T) {
				lcWantErr(t, "Post", l.Post(func() { t.Error("a Post function ran after Close") }), loop.ErrClosed)
			}},
			{"NewWaker", func(t *testing.T) {
				w := l.NewWaker(func() { t.Error("a Waker ran after Close") })
				lcWantErr(t, "NewWaker(...).Wake", w.Wake(), loop.ErrClosed)
			}},
			{"Watch", func(t *testing.T) {
				_, err := l.Watch(loop.FD(pr.Fd()), nop, loop.Readable)
				lcWantErr(t, "Watch", err, loop.ErrClosed)
			}},
			{"WatchFd", func(t *testing.T) {
				_, err := l.WatchFd(int(pr.Fd()), nop, loop.Readable)
				lcWantErr(t, "WatchFd", err, loop.ErrClosed)
			}},
			{"WatchRing", func(t *testing.T) {
				_, err := l.WatchRing(&lcRing{t: t, fd: int(pw.Fd())}, nop, true)
				lcWantErr(t, "WatchRing", err, loop.ErrClosed)
			}},
			{"SetRingActive", func(t *testing.T) {
				lcWantErr(t, "SetRingActive", l.SetRingActive(ringTok, false), anyTokenErr...)
				if ring.wake.Load() {
					t.Error("the loop's Close left the ring's wake function set")
				}
			}},
			{"Modify", func(t *testing.T) {
				lcWantErr(t, "Modify", l.Modify(tok, loop.Writable), anyTokenErr...)
			}},
			{"Unwatch", func(t *testing.T) {
				lcWantErr(t, "Unwatch", l.Unwatch(tok), anyTokenErr...)
			}},
			{"After", func(t *testing.T) {
				tm := l.After(time.Millisecond, func() { t.Error("an After timer made after Close fired") })
				tm.Stop()
			}},
			{"Every", func(t *testing.T) {
				tm := l.Every(time.Millisecond, func() { t.Error("an Every timer made after Close fired") })
				tm.Stop()
			}},
			{"Listen", func(t *testing.T) {
				ln, err := l.Listen("tcp", "127.0.0.1:0", h)
				lcWantErr(t, "Listen", err, loop.ErrClosed)
				if ln != nil {
					ln.Close()
				}
			}},
			{"WatchConn", func(t *testing.T) {
				nc, _ := lcTCPPair(t)
				_, err := l.WatchConn(nc, h)
				lcWantErr(t, "WatchConn", err, loop.ErrClosed)
			}},
			{"WatchConnFd", func(t *testing.T) {
				fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer unix.Close(fds[1])
				_, err = l.WatchConnFd(fds[0], h) // the loop owns fds[0], also on failure
				lcWantErr(t, "WatchConnFd", err, loop.ErrClosed)
			}},
		})
	})
	t.Run("Timer", func(t *testing.T) {
		lcRunCases(t, after, []lcCase{
			{"Stop", func(t *testing.T) {
				after.Stop()
				every.Stop()
				after.Stop()
			}},
		})
	})
	t.Run("Token", func(t *testing.T) {
		lcRunCases(t, tok, []lcCase{
			{"IsZero", func(t *testing.T) {
				if tok.IsZero() || !(loop.Token{}).IsZero() {
					t.Error("IsZero of a Token after Close is wrong")
				}
			}},
			{"String", func(t *testing.T) {
				if tok.String() == "" {
					t.Error("String of a Token is empty")
				}
			}},
		})
	})
	t.Run("Waker", func(t *testing.T) {
		lcRunCases(t, waker, []lcCase{
			{"Wake", func(t *testing.T) { lcWantErr(t, "Wake", waker.Wake(), loop.ErrClosed) }},
		})
	})
	t.Run("Listener", func(t *testing.T) {
		lcRunCases(t, ln, []lcCase{
			{"Addr", func(t *testing.T) {
				if ln.Addr() == nil {
					t.Error("Addr after Close = nil")
				}
			}},
			{"Fd", func(t *testing.T) { ln.Fd() }},
			{"Close", func(t *testing.T) {
				if err := ln.Close(); err != nil {
					t.Errorf("Close of a Listener the loop closed = %v, want nil", err)
				}
			}},
		})
	})
	t.Run("Conn", func(t *testing.T) {
		lcRunCases(t, conn, []lcCase{
			{"Loop", func(t *testing.T) {
				if conn.Loop() != l {
					t.Error("Loop() is not the loop")
				}
			}},
			{"Fd", func(t *testing.T) { conn.Fd() }},
			{"LocalAddr", func(t *testing.T) { conn.LocalAddr() }},
			{"RemoteAddr", func(t *testing.T) { conn.RemoteAddr() }},
			{"Context", func(t *testing.T) { conn.Context() }},
			{"SetContext", func(t *testing.T) {
				conn.SetContext(42)
				if conn.Context() != 42 {
					t.Error("Context does not return what SetContext set")
				}
			}},
			{"Buffered", func(t *testing.T) {
				if n := conn.Buffered(); n != 0 {
					t.Errorf("Buffered after Close = %d", n)
				}
			}},
			{"ReadPaused", func(t *testing.T) { conn.ReadPaused() }},
			{"PeerClosed", func(t *testing.T) { conn.PeerClosed() }},
			{"SetHalfClose", func(t *testing.T) { conn.SetHalfClose(true) }},
			{"SetOnDrain", func(t *testing.T) {
				conn.SetOnDrain(func(*loop.Conn) { t.Error("OnDrain hook called after Close") })
			}},
			{"SetOnReadable", func(t *testing.T) {
				conn.SetOnReadable(func(*loop.Conn) { t.Error("OnReadable hook called after Close") })
			}},
			{"PauseRead", func(t *testing.T) { lcWantErr(t, "PauseRead", conn.PauseRead(), loop.ErrClosed) }},
			{"ResumeRead", func(t *testing.T) { lcWantErr(t, "ResumeRead", conn.ResumeRead(), loop.ErrClosed) }},
			{"Closed", func(t *testing.T) {
				if !conn.Closed() {
					t.Error("Closed after the loop's Close = false")
				}
			}},
			{"Write", func(t *testing.T) {
				n, err := conn.Write([]byte("x"))
				if n != 0 {
					t.Errorf("Write after Close = %d", n)
				}
				lcWantErr(t, "Write", err, loop.ErrClosed)
			}},
			{"CloseWrite", func(t *testing.T) { lcWantErr(t, "CloseWrite", conn.CloseWrite(), loop.ErrClosed) }},
			{"Read", func(t *testing.T) {
				_, err := conn.Read(make([]byte, 8))
				lcWantErr(t, "Read", err, loop.ErrClosed)
			}},
			{"Detach", func(t *testing.T) {
				fd, err := conn.Detach()
				if fd != -1 {
					t.Errorf("Detach after Close = fd %d", fd)
				}
				lcWantErr(t, "Detach", err, loop.ErrClosed)
			}},
			{"Close", func(t *testing.T) {
				if err := conn.Close(); err != nil {
					t.Errorf("Close of a Conn the loop closed = %v, want nil", err)
				}
				select {
				case err := <-h.closes:
					t.Errorf("a second OnClose(%v)", err)
				default:
				}
			}},
		})
	})
}

// TestLifecycleGroupAfterClose calls every method of a Group after Close.
func TestLifecycleGroupAfterClose(t *testing.T) {
	g, err := loop.NewGroup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	h := lcConnHandler{closes: make(chan error, 1)}
	lcRunCases(t, g, []lcCase{
		{"Loops", func(t *testing.T) {
			if n := len(g.Loops()); n != 2 {
				t.Errorf("Loops after Close: %d loops, want 2", n)
			}
		}},
		{"Listen", func(t *testing.T) {
			ln, err := g.Listen("tcp", "127.0.0.1:0", h)
			lcWantErr(t, "Listen", err, loop.ErrClosed)
			if ln != nil {
				ln.Close()
			}
		}},
		{"Run", func(t *testing.T) {
			err := lcWithin(t, "Run after Close", func() error { return g.Run(context.Background()) })
			lcWantErr(t, "Run", err, loop.ErrClosed)
		}},
		{"Stop", func(t *testing.T) { g.Stop() }},
		{"Close", func(t *testing.T) {
			if err := g.Close(); err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
		}},
	})
}

// lcRing is a RingSource that never has work, over a pipe's read end; wake
// records whether the loop's wake function is set.
type lcRing struct {
	t    *testing.T
	fd   int
	wake atomic.Bool
}

func (r *lcRing) Fd() int             { return r.fd }
func (r *lcRing) Ready() bool         { return false }
func (r *lcRing) Arm() bool           { return false }
func (r *lcRing) WaitClear() error    { return nil }
func (r *lcRing) EdgeTriggered() bool { return false }
func (r *lcRing) SetWake(wake func()) { r.wake.Store(wake != nil) }
