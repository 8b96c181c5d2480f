package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/handlers"
	"github.com/fdring/fdring/loop"
	"golang.org/x/sys/unix"
)

const bridgeSize = 8 << 20

// smallSendBuf wraps a RingConn and shrinks the socket's send buffer in
// OnOpen, so backpressure shows after a few kilobytes instead of megabytes
// of kernel buffering. It forwards the three ConnHandler methods and
// nothing else: the bridge's drain hook, which resumes it after
// backpressure, travels with OnOpen.
type smallSendBuf struct{ loop.ConnHandler }

func (h smallSendBuf) OnOpen(c *loop.Conn) {
	// Best effort: without it the test still passes, more slowly.
	_ = unix.SetsockoptInt(c.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 32<<10)
	h.ConnHandler.OnOpen(c)
}

// doneChan returns a BridgeOnDone option and the channel it reports on.
func doneChan() (chan error, handlers.BridgeOption) {
	done := make(chan error, 2)
	return done, handlers.BridgeOnDone(func(err error) { done <- err })
}

// serveOn listens with h on a new loop, runs the loop until the test ends
// and returns it with the listening address.
func serveOn(t *testing.T, h loop.ConnHandler) (*loop.Loop, string) {
	t.Helper()
	l := newLoop(t)
	ln, err := l.Listen("tcp", "127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	startLoop(t, l)
	return l, ln.Addr().String()
}

// onPause returns an OnBackpressure option that signals paused (without
// blocking) each time the bridge pauses.
func onPause(paused chan<- struct{}) handlers.BridgeOption {
	return handlers.OnBackpressure(func(p bool) {
		if p {
			select {
			case paused <- struct{}{}:
			default:
			}
		}
	})
}

// TestRingToConn: a producer streams 8 MiB into a ring; the bridge moves it
// to a TCP client that first does not read (the bridge must pause with
// bounded output), then verifies every byte and the EOF after Close.
func TestRingToConn(t *testing.T) {
	const limit = 256 << 10
	tx, rx, err := fdring.New[byte](64 << 10)
	if err != nil {
		t.Fatal(err)
	}
	paused := make(chan struct{}, 1)
	done, onDone := doneChan()
	bridge := handlers.RingToConn(rx, handlers.WithOutputLimit(limit), onPause(paused), onDone)
	_, addr := serveOn(t, smallSendBuf{bridge})

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	prodErr := make(chan error, 1)
	go func() {
		w := fdring.NewWriter(tx).WithContext(ctx)
		buf := make([]byte, 100_000)
		var err error
		for off := int64(0); off < bridgeSize && err == nil; off += int64(len(buf)) {
			p := buf[:min(int64(len(buf)), bridgeSize-off)]
			fillPattern(p, off)
			_, err = w.Write(p)
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		prodErr <- err
	}()

	c := dialSlowReader(t, "tcp", addr)
	recv(t, paused, "the bridge to pause")
	if st := bridge.Stats(); st.MaxBuffered > limit+handlers.DefaultChunkSize {
		t.Errorf("conn output reached %d bytes, limit %d + chunk %d", st.MaxBuffered, limit, handlers.DefaultChunkSize)
	}
	if err := readPattern(c, bridgeSize); err != nil {
		t.Fatal(err)
	}
	if err := expectEOF(c); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, prodErr, "the producer"); err != nil {
		t.Fatalf("producer: %v", err)
	}
	c.Close()
	if err := recv(t, done, "OnDone"); err != nil {
		t.Errorf("OnDone(%v), want nil", err)
	}
	st := bridge.Stats()
	if st.Bytes != bridgeSize || st.Pauses == 0 || st.MaxBuffered > limit+handlers.DefaultChunkSize {
		t.Errorf("stats %+v: want %d bytes, some pauses, output at most %d", st, bridgeSize, limit+handlers.DefaultChunkSize)
	}
}

// TestRingToConnHalfClose: a client that only reads shuts its write side
// down at once (CloseWrite). The bridge used to take the FIN for the end of
// the connection and drop the whole stream (OnDone got ErrConnClosed). An
// output-only bridge keeps writing after the peer's FIN: the client gets
// every byte and then EOF, and OnDone gets nil.
func TestRingToConnHalfClose(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			const size, limit = 4 << 20, 128 << 10
			tx, rx, err := fdring.New[byte](64 << 10)
			if err != nil {
				t.Fatal(err)
			}
			paused := make(chan struct{}, 1)
			done, onDone := doneChan()
			bridge := handlers.RingToConn(rx, handlers.WithOutputLimit(limit), onPause(paused), onDone)
			l := newLoop(t)
			address := "127.0.0.1:0"
			if network == "unix" {
				address = filepath.Join(t.TempDir(), "s.sock")
			}
			ln, err := l.Listen(network, address, smallSendBuf{bridge})
			if err != nil {
				t.Fatal(err)
			}
			startLoop(t, l)

			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			prodErr := make(chan error, 1)
			go func() {
				w := fdring.NewWriter(tx).WithContext(ctx)
				buf := make([]byte, 100_000)
				var err error
				for off := int64(0); off < size && err == nil; off += int64(len(buf)) {
					p := buf[:min(int64(len(buf)), size-off)]
					fillPattern(p, off)
					_, err = w.Write(p)
				}
				if cerr := w.Close(); err == nil {
					err = cerr
				}
				prodErr <- err
			}()

			c := dialSlowReader(t, network, ln.Addr().String())
			if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			// Let the output back up before reading, so that the bridge
			// also resumes (OnDrain) after the peer's FIN.
			select {
			case <-paused:
			case err := <-done:
				t.Fatalf("the bridge finished (OnDone(%v)) before the stream went through", err)
			case <-time.After(timeout):
				t.Fatal("timed out waiting for the bridge to pause")
			}
			if err := readPattern(c, size); err != nil {
				t.Fatal(err)
			}
			if err := expectEOF(c); err != nil {
				t.Fatal(err)
			}
			if err := recv(t, prodErr, "the producer"); err != nil {
				t.Fatalf("producer: %v", err)
			}
			// Both sides have sent their FIN: the bridge is done without
			// waiting for the client to close.
			if err := recv(t, done, "OnDone"); err != nil {
				t.Errorf("OnDone(%v), want nil", err)
			}
			if st := bridge.Stats(); st.Bytes != size || st.Pauses == 0 {
				t.Errorf("stats %+v: want %d bytes and some pauses", st, size)
			}
			if n := l.Stats().Conns; n != 0 {
				t.Errorf("loop counts %d connections after the bridge finished", n)
			}
		})
	}
}

// TestRingToConnPeerGone: the client closes first. Its FIN alone could be a
// half-close (TestRingToConnHalfClose), so the bridge learns that the client
// is gone when it next writes: OnDone gets the socket error, and the
// producer learns it through the ring.
func TestRingToConnPeerGone(t *testing.T) {
	tx, rx, err := fdring.New[byte](4096)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	done, onDone := doneChan()
	_, addr := serveOn(t, handlers.RingToConn(rx, onDone))
	c := dial(t, "tcp", addr)
	if _, err := tx.Send(func(free []byte) int { return copy(free, "hello") }); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v", buf, err)
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// The first write after the close draws a reset, a later one fails.
	sendErr := errors.New("Send kept succeeding after the client closed")
	for range 10_000 {
		if _, err := tx.SendWait(ctx, func(free []byte) int { return len(free) }); err != nil {
			sendErr = err
			break
		}
	}
	if !errors.Is(sendErr, fdring.ErrClosed) {
		t.Errorf("Send after the client closed: %v, want ErrClosed", sendErr)
	}
	if err := recv(t, done, "OnDone"); !errors.Is(err, unix.EPIPE) && !errors.Is(err, unix.ECONNRESET) {
		t.Errorf("OnDone(%v), want EPIPE or ECONNRESET", err)
	}
}

// TestConnToRing: a client sends 8 MiB; a consumer that first does not read
// makes the bridge stop reading with nothing beyond the ring taken from the
// socket; then a slow consumer verifies every byte and the io.EOF after the
// client closes.
func TestConnToRing(t *testing.T) {
	const ringCap = 64 << 10
	tx, rx, err := fdring.New[byte](ringCap)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	paused := make(chan struct{}, 1)
	done, onDone := doneChan()
	bridge := handlers.ConnToRing(tx, onPause(paused), onDone)
	l, addr := serveOn(t, bridge)

	c := dial(t, "tcp", addr)
	clientErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 128<<10)
		for off := int64(0); off < bridgeSize; off += int64(len(buf)) {
			fillPattern(buf, off)
			if _, err := c.Write(buf); err != nil {
				clientErr <- err
				return
			}
		}
		clientErr <- c.Close()
	}()

	recv(t, paused, "the bridge to pause")
	// Nothing consumed yet: everything the bridge took is in the ring.
	if got := bridge.Stats().Bytes; got > ringCap {
		t.Errorf("bridge took %d bytes from the socket with a %d-byte ring and no consumer", got, ringCap)
	}
	// The connection is the loop's, paused or not.
	if n := l.Stats().Conns; n != 1 {
		t.Errorf("loop counts %d connections while the bridge is paused, want 1", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var off int64
	var verr error
	for {
		_, err := rx.RecvWait(ctx, func(data []byte) int {
			data = data[:min(len(data), 4096)] // slow: small bites
			if verr == nil {
				verr = checkPattern(data, off)
			}
			off += int64(len(data))
			return len(data)
		})
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", off, err)
		}
	}
	if verr != nil {
		t.Fatal(verr)
	}
	if off != bridgeSize {
		t.Fatalf("received %d bytes, want %d", off, bridgeSize)
	}
	if err := recv(t, clientErr, "the client"); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, done, "OnDone"); err != nil {
		t.Errorf("OnDone(%v), want nil", err)
	}
	if st := bridge.Stats(); st.Bytes != bridgeSize || st.Pauses == 0 {
		t.Errorf("stats %+v: want %d bytes and some pauses", st, bridgeSize)
	}
}

// TestConnToRingConsumerGone: the consumer closes; the bridge closes the
// connection and reports fdring.ErrClosed.
func TestConnToRingConsumerGone(t *testing.T) {
	tx, rx, err := fdring.New[byte](4096)
	if err != nil {
		t.Fatal(err)
	}
	done, onDone := doneChan()
	_, addr := serveOn(t, handlers.ConnToRing(tx, onDone))
	c := dial(t, "tcp", addr)
	rx.Close()
	// The bridge notices when it next touches the ring: send something.
	if _, err := c.Write([]byte("anyone there?")); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, done, "OnDone"); !errors.Is(err, fdring.ErrClosed) {
		t.Errorf("OnDone(%v), want fdring.ErrClosed", err)
	}
	if err := expectClosed(c); err != nil {
		t.Errorf("after the bridge finished: %v", err)
	}
}

// bridgeHandler is what both bridges are.
type bridgeHandler interface {
	loop.ConnHandler
	Close() error
	Stats() handlers.BridgeStats
}

// TestBridgeClose: Close, run on the loop, stops either bridge: OnDone gets
// ErrStopped, the ring's peer learns it, the client sees the connection
// end, and the loop no longer counts it.
func TestBridgeClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		// start returns the bridge, a function that moves one message
		// through it (so the connection is open), and one that checks
		// that the ring's peer saw the end.
		start func(t *testing.T, onDone handlers.BridgeOption) (b bridgeHandler, exchange func(net.Conn), ringEnded func() error)
	}{
		{"RingToConn", func(t *testing.T, onDone handlers.BridgeOption) (bridgeHandler, func(net.Conn), func() error) {
			tx, rx, err := fdring.New[byte](4096)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tx.Close() })
			exchange := func(c net.Conn) {
				if _, err := tx.Send(func(free []byte) int { return copy(free, "hi") }); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 2)
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
					t.Fatalf("read %q, %v", buf, err)
				}
			}
			ringEnded := func() error {
				// The second Send at the latest sees the receiver closed.
				for range 2 {
					if _, err := tx.Send(func(free []byte) int { return 1 }); err != nil {
						if errors.Is(err, fdring.ErrClosed) {
							return nil
						}
						return err
					}
				}
				return errors.New("Send succeeds after the bridge closed the receiver")
			}
			return handlers.RingToConn(rx, onDone), exchange, ringEnded
		}},
		{"ConnToRing", func(t *testing.T, onDone handlers.BridgeOption) (bridgeHandler, func(net.Conn), func() error) {
			tx, rx, err := fdring.New[byte](4096)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rx.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			t.Cleanup(cancel)
			exchange := func(c net.Conn) {
				if _, err := c.Write([]byte("hi")); err != nil {
					t.Fatal(err)
				}
				var got []byte
				for len(got) < 2 {
					if _, err := rx.RecvWait(ctx, func(data []byte) int {
						got = append(got, data...)
						return len(data)
					}); err != nil {
						t.Fatal(err)
					}
				}
				if string(got) != "hi" {
					t.Fatalf("ring got %q", got)
				}
			}
			ringEnded := func() error {
				_, err := rx.RecvWait(ctx, func(data []byte) int { return len(data) })
				if err != io.EOF {
					return fmt.Errorf("Recv: %v, want io.EOF", err)
				}
				return nil
			}
			return handlers.ConnToRing(tx, onDone), exchange, ringEnded
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done, onDone := doneChan()
			bridge, exchange, ringEnded := tc.start(t, onDone)
			l, addr := serveOn(t, bridge)
			c := dial(t, "tcp", addr)
			exchange(c)
			onLoop(t, l, func() { bridge.Close() })
			if err := recv(t, done, "OnDone"); !errors.Is(err, handlers.ErrStopped) {
				t.Errorf("OnDone(%v), want ErrStopped", err)
			}
			if err := ringEnded(); err != nil {
				t.Error(err)
			}
			if err := expectClosed(c); err != nil {
				t.Error(err)
			}
			if n := l.Stats().Conns; n != 0 {
				t.Errorf("loop counts %d connections after Close, want 0", n)
			}
			if st := bridge.Stats(); st.Bytes != 2 {
				t.Errorf("stats %+v, want 2 bytes", st)
			}
			var err error
			onLoop(t, l, func() { err = bridge.Close() }) // idempotent
			if err != nil {
				t.Errorf("second Close: %v", err)
			}
			select {
			case err := <-done:
				t.Errorf("OnDone called again with %v", err)
			default:
			}
		})
	}
}

// TestConnToRingLoopClose: the bridged connection is the loop's, so closing
// the loop closes it and ends the bridge with loop.ErrClosed.
func TestConnToRingLoopClose(t *testing.T) {
	tx, rx, err := fdring.New[byte](4096)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	client, server := tcpPair(t)
	l := newLoop(t)
	var doneErr error
	calls := 0
	bridge := handlers.ConnToRing(tx, handlers.BridgeOnDone(func(err error) { doneErr = err; calls++ }))
	// The loop is not running: its methods may be called from here.
	if _, err := l.WatchConn(server, bridge); err != nil {
		t.Fatal(err)
	}
	if n := l.Stats().Conns; n != 1 {
		t.Errorf("loop counts %d connections, want 1", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || !errors.Is(doneErr, loop.ErrClosed) {
		t.Errorf("OnDone called %d times, last with %v; want once with loop.ErrClosed", calls, doneErr)
	}
	if _, err := rx.Recv(func(data []byte) int { return len(data) }); err != io.EOF {
		t.Errorf("Recv after the loop closed: %v, want io.EOF", err)
	}
	if err := expectClosed(client); err != nil {
		t.Error(err)
	}
	if err := bridge.Close(); err != nil || calls != 1 {
		t.Errorf("Close after the loop closed: %v, OnDone calls %d", err, calls)
	}
}

// onlyConnHandler wraps a ConnHandler so that the loop sees only the
// ConnHandler methods, as a careless wrapper would.
type onlyConnHandler struct{ loop.ConnHandler }

// TestConnToRingWrapped: a wrapper that forwards only the ConnHandler
// methods cannot lose the bridge's read hook (OnOpen installs it): every
// byte reaches the ring, and the peer's FIN ends the stream.
func TestConnToRingWrapped(t *testing.T) {
	tx, rx, err := fdring.New[byte](4096)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	done, onDone := doneChan()
	_, addr := serveOn(t, onlyConnHandler{handlers.ConnToRing(tx, onDone)})
	c := dial(t, "tcp", addr)
	if _, err := c.Write([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, done, "OnDone"); err != nil {
		t.Errorf("OnDone(%v), want nil", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []byte
	for {
		_, err := rx.RecvWait(ctx, func(d []byte) int { got = append(got, d...); return len(d) })
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("RecvWait = %v, want io.EOF after the data", err)
			}
			break
		}
	}
	if string(got) != "kept" {
		t.Errorf("ring got %q, want %q", got, "kept")
	}
}

// TestConnToRingHookReplaced: a handler that replaces the bridge's read
// hook makes the bridge stop with an error instead of losing the data.
func TestConnToRingHookReplaced(t *testing.T) {
	tx, rx, err := fdring.New[byte](4096)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	done, onDone := doneChan()
	_, addr := serveOn(t, replaceReadHook{handlers.ConnToRing(tx, onDone)})
	c := dial(t, "tcp", addr)
	if _, err := c.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, done, "OnDone"); err == nil || !strings.Contains(err.Error(), "read hook") {
		t.Errorf("OnDone(%v), want an error naming the read hook", err)
	}
	if err := expectClosed(c); err != nil {
		t.Error(err)
	}
}

// replaceReadHook removes the read hook its ConnHandler installed.
type replaceReadHook struct{ loop.ConnHandler }

func (h replaceReadHook) OnOpen(c *loop.Conn) {
	h.ConnHandler.OnOpen(c)
	c.SetOnReadable(nil)
}
