package loop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// echo is a ConnHandler that writes back what it reads. Its hooks run on the
// loop goroutine.
type echo struct {
	opened   chan *Conn
	closed   chan error
	maxOut   atomic.Int64
	paused   chan struct{}
	pauseOne sync.Once
}

func newEcho() *echo {
	return &echo{opened: make(chan *Conn, 64), closed: make(chan error, 64), paused: make(chan struct{})}
}

func (e *echo) OnOpen(c *Conn) { e.opened <- c }

func (e *echo) OnData(c *Conn, data []byte) {
	if _, err := c.Write(data); err != nil {
		return
	}
	if b := int64(c.Buffered()); b > e.maxOut.Load() {
		e.maxOut.Store(b)
	}
	if c.ReadPaused() {
		e.pauseOne.Do(func() { close(e.paused) })
	}
}

func (e *echo) OnClose(c *Conn, err error) { e.closed <- err }

// pattern returns n deterministic bytes, different per seed.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed*2654435761 + 1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// roundTrip writes data on nc from one goroutine while reading the echo on
// the calling one, and checks every byte.
func roundTrip(t *testing.T, nc net.Conn, data []byte) {
	t.Helper()
	nc.SetDeadline(time.Now().Add(testTimeout))
	werr := make(chan error, 1)
	go func() {
		for off := 0; off < len(data); off += 16 << 10 {
			if _, err := nc.Write(data[off:min(off+16<<10, len(data))]); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(nc, got); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("echo differs")
	}
}

func listenArgs(t *testing.T, network string) (string, string) {
	if network == "unix" {
		return "unix", filepath.Join(t.TempDir(), "s.sock")
	}
	return "tcp", "127.0.0.1:0"
}

func TestEcho(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			forBackends(t, func(t *testing.T, opts ...Option) {
				const clients, size = 8, 256 << 10
				l := newLoop(t, opts...)
				h := newEcho()
				if _, err := l.Listen("tcp", "127.0.0.1:0", nil); err == nil {
					t.Fatal("Listen without handler")
				}
				netw, addr := listenArgs(t, network)
				ln, err := l.Listen(netw, addr, h)
				if err != nil {
					t.Fatal(err)
				}
				start(t, l)
				var wg sync.WaitGroup
				for i := range clients {
					wg.Go(func() {
						nc, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
						if err != nil {
							t.Error(err)
							return
						}
						defer nc.Close()
						roundTrip(t, nc, pattern(i, size))
					})
				}
				wg.Wait()
				for range clients {
					if err := waitCh(t, h.closed, "OnClose"); err != nil {
						t.Errorf("OnClose err %v, want nil", err)
					}
				}
				if st := l.Stats(); st.Accepted != clients || st.Conns != 0 {
					t.Errorf("stats %+v", st)
				}
			})
		})
	}
}

func TestBackpressure(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		const high, low, rbuf = 256 << 10, 64 << 10, 32 << 10
		const total = 32 << 20
		l := newLoop(t, append(opts, WithWaterMarks(low, high), WithReadBufferSize(rbuf))...)
		h := newEcho()
		ln, err := l.Listen("tcp", "127.0.0.1:0", h)
		if err != nil {
			t.Fatal(err)
		}
		start(t, l)
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(testTimeout))
		data := pattern(7, 1<<20)
		werr := make(chan error, 1)
		go func() {
			for off := 0; off < total; off += len(data) {
				if _, err := nc.Write(data); err != nil {
					werr <- err
					return
				}
			}
			werr <- nil
		}()
		// The client does not read: the server's output backs up to the
		// high-water mark and it stops reading.
		waitCh(t, h.paused, "read pause")
		if m := h.maxOut.Load(); m > high+rbuf {
			t.Fatalf("buffered output %d exceeds high-water mark %d + read buffer", m, high)
		}
		// Now read everything back: reading resumes and every byte arrives.
		got := make([]byte, len(data))
		for off := 0; off < total; off += len(data) {
			if _, err := io.ReadFull(nc, got); err != nil {
				t.Fatalf("read at %d: %v", off, err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("echo differs at %d", off)
			}
		}
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
		if m := h.maxOut.Load(); m > high+rbuf {
			t.Fatalf("buffered output %d exceeds high-water mark %d + read buffer", m, high)
		}
	})
}

func TestHalfClose(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			forBackends(t, func(t *testing.T, opts ...Option) {
				l := newLoop(t, opts...)
				h := newEcho()
				netw, addr := listenArgs(t, network)
				ln, err := l.Listen(netw, addr, h)
				if err != nil {
					t.Fatal(err)
				}
				start(t, l)
				nc, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(testTimeout))
				data := pattern(3, 2<<20)
				// Write everything, then FIN; only then read: the server has
				// output pending when it sees the FIN, flushes it, closes.
				werr := make(chan error, 1)
				go func() {
					_, err := nc.Write(data)
					if err == nil {
						err = nc.(interface{ CloseWrite() error }).CloseWrite()
					}
					werr <- err
				}()
				got, err := io.ReadAll(nc)
				if err != nil {
					t.Fatal(err)
				}
				if err := <-werr; err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("got %d bytes back, want %d", len(got), len(data))
				}
				if err := waitCh(t, h.closed, "OnClose"); err != nil {
					t.Fatalf("OnClose err %v", err)
				}
			})
		})
	}
}

// client is a ConnHandler for an adopted client socket: it sends msg on
// open and closes once the echo came back.
type client struct {
	msg  []byte
	got  []byte
	done chan error
}

func (c *client) OnOpen(conn *Conn) { conn.Write(c.msg) }

func (c *client) OnData(conn *Conn, data []byte) {
	c.got = append(c.got, data...)
	if len(c.got) >= len(c.msg) {
		conn.Close()
	}
}

func (c *client) OnClose(conn *Conn, err error) {
	if err == nil && !bytes.Equal(c.got, c.msg) {
		err = fmt.Errorf("client got %q", c.got)
	}
	c.done <- err
}

func TestWatchConn(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		h := newEcho()
		ln, err := l.Listen("tcp4", "127.0.0.1:0", h)
		if err != nil {
			t.Fatal(err)
		}
		run := start(t, l)
		// A net.Conn adopted by the loop (client and server on one loop).
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c := &client{msg: []byte("hello, loop"), done: make(chan error, 1)}
		var conn *Conn
		run.do(func() {
			conn, err = l.WatchConn(nc, c)
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := waitCh(t, c.done, "client done"); err != nil {
			t.Fatal(err)
		}
		if conn.RemoteAddr().String() != ln.Addr().String() {
			t.Errorf("remote %v, listener %v", conn.RemoteAddr(), ln.Addr())
		}
		waitCh(t, h.closed, "server close")

		// A socketpair end adopted by fd; the other end stays a plain fd.
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(sp[1])
		run.do(func() {
			conn, err = l.WatchConnFd(sp[0], h)
			if err == nil {
				conn.SetContext("ctx")
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if conn.Context() != "ctx" {
			t.Fatal("context lost")
		}
		if _, err := unix.Write(sp[1], []byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		fds := []unix.PollFd{{Fd: int32(sp[1]), Events: unix.POLLIN}}
		if n, _ := unix.Poll(fds, int(testTimeout/time.Millisecond)); n != 1 {
			t.Fatal("no echo on the socketpair")
		}
		if n, err := unix.Read(sp[1], buf); err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("read %q %v", buf, err)
		}
		unix.Shutdown(sp[1], unix.SHUT_WR)
		if err := waitCh(t, h.closed, "socketpair close"); err != nil {
			t.Fatal(err)
		}
		var werr error
		run.do(func() { _, werr = conn.Write([]byte("x")) })
		if !errors.Is(werr, ErrClosed) {
			t.Fatalf("Write after close = %v", werr)
		}
	})
}

func TestCloseClosesConns(t *testing.T) {
	l := newLoop(t)
	h := newEcho()
	ln, err := l.Listen("tcp", "127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	run := start(t, l)
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitCh(t, h.opened, "OnOpen")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := run.wait(); err != nil {
		t.Fatal(err)
	}
	if err := waitCh(t, h.closed, "OnClose"); !errors.Is(err, ErrClosed) {
		t.Fatalf("OnClose err %v, want ErrClosed", err)
	}
	nc.SetDeadline(time.Now().Add(testTimeout))
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after Close")
	}
}

func TestZeroAllocConnEcho(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(sp[1])
		if _, err := l.WatchConnFd(sp[0], newEcho()); err != nil {
			t.Fatal(err)
		}
		msg, buf := []byte("0123456789abcdef"), make([]byte, 64)
		echoOnce := func() {
			if _, err := unix.Write(sp[1], msg); err != nil {
				t.Fatal(err)
			}
			if err := l.round(false); err != nil {
				t.Fatal(err)
			}
			if n, err := unix.Read(sp[1], buf); err != nil || n != len(msg) {
				t.Fatalf("read %d %v", n, err)
			}
		}
		if a := testing.AllocsPerRun(100, echoOnce); a != 0 {
			t.Fatalf("%v allocations per echoed message", a)
		}
	})
}
