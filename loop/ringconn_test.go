package loop

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/fdnet"
)

// Ring Conns (ringconn.go), driven through real fdring byte rings: the
// peer is an fdnet.Conn of an fdnet.Pipe, whose other end is detached and
// served by the loop.

// ringPeer returns the rings of one end of an fdnet pipe with size bytes
// per direction, for WatchRingConn, and the other end, for the test to
// talk through.
func ringPeer(t testing.TB, size int) (*fdring.Receiver[byte], *fdring.Sender[byte], *fdnet.Conn) {
	t.Helper()
	a, b, err := fdnet.Pipe(fdnet.WithBufferSize(size))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	rx, tx, err := a.Detach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.SetDeadline(time.Now().Add(testTimeout))
	return rx, tx, b
}

// watchRingConn serves rx and tx on the running loop r with h.
func watchRingConn(t *testing.T, r *running, rx *fdring.Receiver[byte], tx *fdring.Sender[byte], h ConnHandler) *Conn {
	t.Helper()
	var c *Conn
	var err error
	r.do(func() { c, err = r.l.WatchRingConn(rx, tx, h, nil, fdnet.Addr{Path: "peer"}) })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRingConnEcho(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		r := start(t, l)
		h := newEcho()
		rx, tx, peer := ringPeer(t, 64<<10)
		c := watchRingConn(t, r, rx, tx, h)
		if got := waitCh(t, h.opened, "OnOpen"); got != c {
			t.Fatal("OnOpen got another Conn")
		}
		r.do(func() {
			if c.Fd() != -1 {
				t.Errorf("Fd of a ring Conn = %d, want -1", c.Fd())
			}
			if _, err := c.Detach(); !errors.Is(err, ErrNotSocket) {
				t.Errorf("Detach of a ring Conn = %v, want ErrNotSocket", err)
			}
			if c.RemoteAddr().String() != "peer" {
				t.Errorf("RemoteAddr = %v", c.RemoteAddr())
			}
			if st := l.Stats(); st.Conns != 1 {
				t.Errorf("Stats.Conns = %d, want 1", st.Conns)
			}
		})
		// Larger than the ring both ways: the ring wraps and fills.
		roundTrip(t, peer, pattern(1, 3<<20))
		roundTrip(t, peer, []byte("x"))
		if err := peer.Close(); err != nil {
			t.Fatal(err)
		}
		if err := waitCh(t, h.closed, "OnClose"); err != nil {
			t.Fatalf("OnClose(%v) after the peer's Close, want nil", err)
		}
		r.do(func() {
			if !c.Closed() {
				t.Error("Conn not closed after OnClose")
			}
			if st := l.Stats(); st.Conns != 0 {
				t.Errorf("Stats.Conns = %d after close, want 0", st.Conns)
			}
		})
	})
}

func TestRingConnBackpressure(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		const high, low, rbuf = 256 << 10, 64 << 10, 32 << 10
		const total = 8 << 20
		l := newLoop(t, append(opts, WithWaterMarks(low, high), WithReadBufferSize(rbuf))...)
		r := start(t, l)
		h := newEcho()
		rx, tx, peer := ringPeer(t, 16<<10)
		watchRingConn(t, r, rx, tx, h)
		data := pattern(7, 1<<20)
		werr := make(chan error, 1)
		go func() {
			for off := 0; off < total; off += len(data) {
				if _, err := peer.Write(data); err != nil {
					werr <- err
					return
				}
			}
			werr <- nil
		}()
		// The peer does not read: the echo fills the ring, backs up to the
		// high-water mark, and the Conn stops reading (the peer's Write
		// then waits for room).
		waitCh(t, h.paused, "read pause")
		if m := h.maxOut.Load(); m > high+rbuf {
			t.Fatalf("buffered output %d exceeds high-water mark %d + read buffer", m, high)
		}
		got := make([]byte, len(data))
		for off := 0; off < total; off += len(data) {
			if _, err := io.ReadFull(peer, got); err != nil {
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

// TestRingConnPeerHalfClose: the peer writes, then CloseWrite; the Conn
// (default: no half-close) flushes its pending echo and closes, and the
// peer reads everything, then io.EOF.
func TestRingConnPeerHalfClose(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		r := start(t, l)
		h := newEcho()
		rx, tx, peer := ringPeer(t, 8<<10)
		watchRingConn(t, r, rx, tx, h)
		data := pattern(3, 1<<20)
		werr := make(chan error, 1)
		go func() {
			_, err := peer.Write(data)
			if err == nil {
				err = peer.CloseWrite()
			}
			werr <- err
		}()
		got, err := io.ReadAll(peer)
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
			t.Fatalf("OnClose(%v), want nil", err)
		}
	})
}

// shutter is a ConnHandler for half-close from the Conn's side: on open it
// writes a greeting and calls CloseWrite, then records what it reads.
type shutter struct {
	got    []byte // loop goroutine only
	closed chan error
}

func (s *shutter) OnOpen(c *Conn) {
	c.Write([]byte("hello"))
	if err := c.CloseWrite(); err != nil {
		s.closed <- err
	}
	if _, err := c.Write([]byte("late")); !errors.Is(err, ErrClosed) {
		s.closed <- errors.New("Write after CloseWrite did not fail with ErrClosed")
	}
}

func (s *shutter) OnData(c *Conn, data []byte) {
	s.got = append(s.got, data...)
}

func (s *shutter) OnClose(c *Conn, err error) { s.closed <- err }

func TestRingConnCloseWrite(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		r := start(t, l)
		s := &shutter{closed: make(chan error, 4)}
		rx, tx, peer := ringPeer(t, 4<<10)
		watchRingConn(t, r, rx, tx, s)
		// The Conn's write side is shut: the peer reads the greeting, then
		// io.EOF, and can still write.
		got, err := io.ReadAll(peer)
		if err != nil || string(got) != "hello" {
			t.Fatalf("peer read %q, %v; want hello, EOF", got, err)
		}
		data := pattern(5, 100<<10)
		if _, err := peer.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := peer.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		// Both directions are finished: the Conn closes.
		if err := waitCh(t, s.closed, "OnClose"); err != nil {
			t.Fatalf("OnClose(%v), want nil", err)
		}
		r.do(func() {
			if !bytes.Equal(s.got, data) {
				t.Errorf("the Conn read %d bytes, want %d", len(s.got), len(data))
			}
		})
	})
}

// halfEcho is a half-closing ConnHandler: at the peer's FIN it writes what
// it read back, then CloseWrite.
type halfEcho struct {
	got    []byte
	closed chan error
}

func (h *halfEcho) OnOpen(c *Conn) { c.SetHalfClose(true) }

func (h *halfEcho) OnData(c *Conn, data []byte) { h.got = append(h.got, data...) }

func (h *halfEcho) OnClose(c *Conn, err error) { h.closed <- err }

func TestRingConnSetHalfClose(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		r := start(t, l)
		h := &halfEcho{closed: make(chan error, 4)}
		rx, tx, peer := ringPeer(t, 4<<10)
		c := watchRingConn(t, r, rx, tx, h)
		data := pattern(9, 64<<10)
		if _, err := peer.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := peer.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		// Wait on the loop for the FIN, bounded by the test's deadline:
		// each Post runs after a round that served the ring.
		deadline := time.Now().Add(testTimeout)
		for fin := false; !fin; {
			if time.Now().After(deadline) {
				t.Fatal("the Conn never saw the peer's FIN")
			}
			r.do(func() { fin = c.PeerClosed() })
		}
		r.do(func() {
			if c.Closed() {
				t.Fatal("a half-closing Conn closed at the peer's FIN")
			}
			if _, err := c.Write(h.got); err != nil {
				t.Errorf("Write after the peer's FIN: %v", err)
			}
			if err := c.CloseWrite(); err != nil {
				t.Errorf("CloseWrite: %v", err)
			}
		})
		got, err := io.ReadAll(peer)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("peer read %d bytes (%v), want %d", len(got), err, len(data))
		}
		if err := waitCh(t, h.closed, "OnClose"); err != nil {
			t.Fatalf("OnClose(%v), want nil", err)
		}
	})
}

// TestRingConnCloseFromPost: Close from another goroutine through Post;
// the peer reads io.EOF and its writes fail; OnClose runs once, with nil.
func TestRingConnCloseFromPost(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		r := start(t, l)
		h := newEcho()
		rx, tx, peer := ringPeer(t, 4<<10)
		c := watchRingConn(t, r, rx, tx, h)
		roundTrip(t, peer, []byte("ping"))
		closed := make(chan struct{})
		go func() {
			if err := l.Post(func() { c.Close(); c.Close() }); err != nil {
				t.Error(err)
			}
			close(closed)
		}()
		waitCh(t, closed, "Post")
		if err := waitCh(t, h.closed, "OnClose"); err != nil {
			t.Fatalf("OnClose(%v), want nil", err)
		}
		if n, err := peer.Read(make([]byte, 8)); err != io.EOF {
			t.Fatalf("peer Read after Close = %d, %v; want io.EOF", n, err)
		}
		if _, err := peer.Write([]byte("x")); err == nil {
			t.Fatal("peer Write after the Conn's Close succeeded")
		}
		r.do(func() {
			if _, err := c.Write([]byte("x")); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Close = %v, want ErrClosed", err)
			}
		})
		select {
		case err := <-h.closed:
			t.Fatalf("a second OnClose(%v)", err)
		default:
		}
	})
}

// TestRingConnLoopClose: the loop's Close closes its ring Conns (OnClose
// with ErrClosed) and their rings (the peer reads io.EOF); a ring Conn
// queued with AddRingConn but not served yet is closed too.
func TestRingConnLoopClose(t *testing.T) {
	l := newLoop(t)
	h := newEcho()
	rx, tx, peer := ringPeer(t, 4<<10)
	if _, err := l.WatchRingConn(rx, tx, h, nil, nil); err != nil {
		t.Fatal(err)
	}
	rx2, tx2, peer2 := ringPeer(t, 4<<10)
	if err := l.AddRingConn(rx2, tx2, h, nil, nil); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Conns != 2 {
		t.Fatalf("Stats.Conns = %d, want 2 (one queued)", st.Conns)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := waitCh(t, h.closed, "OnClose"); !errors.Is(err, ErrClosed) {
		t.Fatalf("OnClose(%v), want ErrClosed", err)
	}
	for i, p := range []*fdnet.Conn{peer, peer2} {
		if n, err := p.Read(make([]byte, 8)); err != io.EOF {
			t.Fatalf("peer %d Read after the loop's Close = %d, %v; want io.EOF", i, n, err)
		}
	}
	if st := l.Stats(); st.Conns != 0 {
		t.Fatalf("Stats.Conns = %d after Close, want 0", st.Conns)
	}
	rx3, tx3, peer3 := ringPeer(t, 4<<10)
	if err := l.AddRingConn(rx3, tx3, h, nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("AddRingConn after Close = %v, want ErrClosed", err)
	}
	if _, err := peer3.Read(make([]byte, 8)); err != io.EOF {
		t.Fatalf("the rings AddRingConn refused were not closed: peer Read = %v", err)
	}
}

// TestRingConnBadArgs: nil arguments and rings sharing an fd are refused,
// and the rings given are closed.
func TestRingConnBadArgs(t *testing.T) {
	l := newLoop(t)
	rx, tx, peer := ringPeer(t, 4<<10)
	if _, err := l.WatchRingConn(rx, tx, nil, nil, nil); err == nil {
		t.Fatal("WatchRingConn with a nil handler succeeded")
	}
	if _, err := peer.Read(make([]byte, 8)); err != io.EOF {
		t.Fatalf("rings not closed after a failed WatchRingConn: peer Read = %v", err)
	}
	if _, err := l.WatchRingConn(nil, nil, newEcho(), nil, nil); err == nil {
		t.Fatal("WatchRingConn with nil rings succeeded")
	}
	if err := l.AddRingConn(nil, nil, newEcho(), nil, nil); err == nil {
		t.Fatal("AddRingConn with nil rings succeeded")
	}
	if st := l.Stats(); st.Conns != 0 {
		t.Fatalf("Stats.Conns = %d, want 0", st.Conns)
	}
}

// TestRingConnWithTCP: one loop, one handler, a TCP client and a ring
// client at once.
func TestRingConnWithTCP(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		g, err := NewGroup(2, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		h := newEcho()
		ln, err := g.Listen("tcp", "127.0.0.1:0", h)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		var peers []*fdnet.Conn
		for range 2 {
			rx, tx, peer := ringPeer(t, 16<<10)
			if err := g.AddRingConn(rx, tx, h, nil, nil); err != nil {
				t.Fatal(err)
			}
			peers = append(peers, peer)
		}
		errc := make(chan error, 3)
		both := func(c net.Conn, seed int) {
			data := pattern(seed, 1<<20)
			go func() {
				_, err := c.Write(data)
				errc <- err
			}()
			got := make([]byte, len(data))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, data) {
				errc <- errors.New("echo differs")
				return
			}
			errc <- nil
		}
		nc.SetDeadline(time.Now().Add(testTimeout))
		go both(nc, 1)
		go both(peers[0], 2)
		go both(peers[1], 3)
		for range 6 {
			if err := waitCh(t, errc, "echo"); err != nil {
				t.Fatal(err)
			}
		}
		var conns int64
		for _, l := range g.Loops() {
			n := l.Stats().Conns
			if n == 0 {
				t.Errorf("a loop serves no conn; round-robin should give each some")
			}
			conns += n
		}
		if conns != 3 {
			t.Errorf("the loops serve %d conns, want 3", conns)
		}
		g.Stop()
		if err := waitCh(t, done, "Group.Run"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRingConnOnReadable: a read hook reads a ring Conn with Read (a copy).
func TestRingConnOnReadable(t *testing.T) {
	l := newLoop(t)
	r := start(t, l)
	got := make(chan []byte, 1)
	var buf []byte
	h := &hookHandler{open: func(c *Conn) {
		c.SetOnReadable(func(c *Conn) {
			p := make([]byte, 3)
			for range 100 {
				n, err := c.Read(p)
				buf = append(buf, p[:n]...)
				if err == io.EOF {
					got <- buf
					return
				}
				if n == 0 || err != nil {
					return
				}
			}
		})
	}, closed: make(chan error, 1)}
	rx, tx, peer := ringPeer(t, 4<<10)
	watchRingConn(t, r, rx, tx, h)
	if _, err := peer.Write([]byte("hello, ring")); err != nil {
		t.Fatal(err)
	}
	peer.CloseWrite()
	if b := waitCh(t, got, "EOF"); string(b) != "hello, ring" {
		t.Fatalf("read %q", b)
	}
	if err := waitCh(t, h.closed, "OnClose"); err != nil {
		t.Fatalf("OnClose(%v)", err)
	}
}

type hookHandler struct {
	open   func(*Conn)
	closed chan error
}

func (h *hookHandler) OnOpen(c *Conn)             { h.open(c) }
func (h *hookHandler) OnData(*Conn, []byte)       {}
func (h *hookHandler) OnClose(_ *Conn, err error) { h.closed <- err }

func TestZeroAllocRingConnEcho(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		rx, tx, peer := ringPeer(t, 4<<10)
		if _, err := l.WatchRingConn(rx, tx, newEcho(), nil, nil); err != nil {
			t.Fatal(err)
		}
		msg, buf := []byte("0123456789abcdef"), make([]byte, 64)
		echoOnce := func() {
			if _, err := peer.Write(msg); err != nil {
				t.Fatal(err)
			}
			// Bounded: the ring is served in the first round.
			for range 4 {
				if err := l.round(false); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := peer.Read(buf); err != nil || n != len(msg) {
				t.Fatalf("read %d %v", n, err)
			}
		}
		if a := testing.AllocsPerRun(100, echoOnce); a != 0 {
			t.Fatalf("%v allocations per echoed message", a)
		}
	})
}

// TestRingConnPeerStopsReading: a peer that closed its receiving side makes
// the next write fail, as EPIPE does on a socket: the Conn closes with the
// ring's error (fdring.ErrClosed), and OnClose gets it.
func TestRingConnPeerStopsReading(t *testing.T) {
	forBackends(t, func(t *testing.T, opts ...Option) {
		l := newLoop(t, opts...)
		r := start(t, l)
		h := newEcho()
		rx, tx, peer := ringPeer(t, 4<<10)
		watchRingConn(t, r, rx, tx, h)
		if err := peer.CloseRead(); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.Write([]byte("echo this")); err != nil {
			t.Fatal(err)
		}
		if err := waitCh(t, h.closed, "OnClose"); !errors.Is(err, fdring.ErrClosed) {
			t.Fatalf("OnClose(%v), want fdring.ErrClosed", err)
		}
		if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("peer Read after CloseRead = %v, want io.EOF", err)
		}
	})
}

// inputSpy records, on the loop goroutine, whether OnData's slice is the
// loop's read buffer, and echoes.
type inputSpy struct {
	copyIn  bool
	private chan bool
}

func (s *inputSpy) OnOpen(c *Conn) { c.SetCopyInput(s.copyIn) }

func (s *inputSpy) OnData(c *Conn, data []byte) {
	select {
	case s.private <- &data[0] == &c.l.readBuf[0]:
	default:
	}
	c.Write(data)
}

func (s *inputSpy) OnClose(*Conn, error) {}

// TestRingConnCopyInput: by default OnData gets ring memory; after
// SetCopyInput(true), a private copy in the loop's read buffer; the echo
// is the same either way.
func TestRingConnCopyInput(t *testing.T) {
	for _, copyIn := range []bool{false, true} {
		l := newLoop(t)
		r := start(t, l)
		s := &inputSpy{copyIn: copyIn, private: make(chan bool, 1)}
		rx, tx, peer := ringPeer(t, 4<<10)
		watchRingConn(t, r, rx, tx, s)
		roundTrip(t, peer, pattern(11, 100<<10))
		if private := waitCh(t, s.private, "OnData"); private != copyIn {
			t.Errorf("SetCopyInput(%v): OnData got the read buffer: %v", copyIn, private)
		}
	}
}
