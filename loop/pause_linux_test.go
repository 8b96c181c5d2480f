package loop

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pauser records data and drain notifications.
type pauser struct {
	data   chan []byte
	drains chan int
	closed chan error
}

func (p *pauser) OnOpen(c *Conn)              { c.SetOnDrain(p.onDrain) }
func (p *pauser) OnData(c *Conn, data []byte) { p.data <- append([]byte(nil), data...) }
func (p *pauser) OnClose(c *Conn, err error)  { p.closed <- err }
func (p *pauser) onDrain(c *Conn)             { p.drains <- c.Buffered() }
func (p *pauser) noData(t *testing.T) {
	t.Helper()
	select {
	case d := <-p.data:
		t.Fatalf("data %q delivered while paused", d)
	default:
	}
}

// TestPauseResumeRead: input is held back while paused, delivered after
// ResumeRead; OnDrain fires once pending output is fully written.
func TestPauseResumeRead(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(sp[1])
		if err := unix.SetNonblock(sp[1], true); err != nil {
			t.Fatal(err)
		}
		p := &pauser{data: make(chan []byte, 64), drains: make(chan int, 64), closed: make(chan error, 1)}
		run := start(t, l)
		var conn *Conn
		run.do(func() {
			conn, err = l.WatchConnFd(sp[0], p)
			if err == nil {
				err = conn.PauseRead()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := unix.Write(sp[1], []byte("held")); err != nil {
			t.Fatal(err)
		}
		// Several loop rounds pass (each do is one Post round trip)
		// without the data being read.
		for range 5 {
			run.do(func() {})
		}
		p.noData(t)
		var paused bool
		run.do(func() { paused = conn.ReadPaused(); err = conn.ResumeRead() })
		if err != nil || !paused {
			t.Fatalf("ResumeRead: %v (paused %v)", err, paused)
		}
		if got := waitCh(t, p.data, "data after resume"); string(got) != "held" {
			t.Fatalf("got %q", got)
		}

		// Fill the socket so Write buffers, then drain the peer: OnDrain.
		big := bytes.Repeat([]byte("x"), 4<<20)
		var buffered int
		run.do(func() { conn.Write(big); buffered = conn.Buffered() })
		if buffered == 0 {
			t.Fatal("4 MiB went into a socketpair without buffering")
		}
		got := 0
		buf := make([]byte, 1<<16)
		deadline := time.Now().Add(testTimeout)
		for got < len(big) && time.Now().Before(deadline) {
			fds := []unix.PollFd{{Fd: int32(sp[1]), Events: unix.POLLIN}}
			unix.Poll(fds, 1000)
			n, err := unix.Read(sp[1], buf)
			if err == unix.EAGAIN {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
		if got != len(big) {
			t.Fatalf("read %d of %d", got, len(big))
		}
		if b := waitCh(t, p.drains, "OnDrain"); b != 0 {
			t.Fatalf("OnDrain with %d bytes still buffered", b)
		}
		run.do(func() { conn.Close() })
		waitCh(t, p.closed, "close")
		run.do(func() { err = conn.PauseRead() })
		if err == nil {
			t.Fatal("PauseRead on a closed Conn succeeded")
		}
	})
}

// rawReader reads the socket itself through Conn.Read, into its own buffer.
type rawReader struct {
	mem    []byte
	n      int
	eof    chan struct{}
	closed chan error
}

func (r *rawReader) OnOpen(c *Conn)           { c.SetOnReadable(r.onReadable) }
func (r *rawReader) OnData(*Conn, []byte)     { panic("OnData called with an OnReadable hook") }
func (r *rawReader) OnClose(_ *Conn, e error) { r.closed <- e }
func (r *rawReader) onReadable(c *Conn) {
	for r.n < len(r.mem) {
		n, err := c.Read(r.mem[r.n:])
		r.n += n
		if err != nil {
			close(r.eof)
			return
		}
		if n == 0 {
			return
		}
	}
	c.PauseRead() // full: stop until there is room
}

func TestReadableHandlerAndDetach(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		r := &rawReader{mem: make([]byte, 1<<20), eof: make(chan struct{}), closed: make(chan error, 1)}
		run := start(t, l)
		run.do(func() { _, err = l.WatchConnFd(sp[0], r) })
		if err != nil {
			t.Fatal(err)
		}
		msg := bytes.Repeat([]byte("0123456789"), 10000)
		if _, err := unix.Write(sp[1], msg); err != nil {
			t.Fatal(err)
		}
		unix.Shutdown(sp[1], unix.SHUT_WR)
		waitCh(t, r.eof, "EOF through Conn.Read")
		if err := waitCh(t, r.closed, "close after EOF"); err != nil {
			t.Fatal(err)
		}
		unix.Close(sp[1])
		if !bytes.Equal(r.mem[:r.n], msg) {
			t.Fatalf("read %d bytes, want %d", r.n, len(msg))
		}

		// Detach hands the socket back open; the loop forgets it.
		sp2, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(sp2[1])
		p := &pauser{data: make(chan []byte, 4), drains: make(chan int, 4), closed: make(chan error, 1)}
		var fd int
		run.do(func() {
			var c *Conn
			if c, err = l.WatchConnFd(sp2[0], p); err == nil {
				fd, err = c.Detach()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if _, err := unix.Write(fd, []byte("still open")); err != nil {
			t.Fatalf("write on the detached fd: %v", err)
		}
		buf := make([]byte, 16)
		if n, err := unix.Read(sp2[1], buf); err != nil || string(buf[:n]) != "still open" {
			t.Fatalf("peer read %q, %v", buf[:n], err)
		}
		unix.Write(sp2[1], []byte("unseen"))
		for range 3 {
			run.do(func() {})
		}
		p.noData(t)
		select {
		case err := <-p.closed:
			t.Fatalf("OnClose(%v) after Detach", err)
		default:
		}
	})
}
