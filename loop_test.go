package fdring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/loop"
)

// Integration tests: real fdring channels and real sockets served together
// by one loop, on both backends.

func backends() []struct {
	name string
	opts []loop.Option
} {
	return []struct {
		name string
		opts []loop.Option
	}{
		{"epoll", nil},
		{"poll", []loop.Option{loop.WithPoll()}},
	}
}

func runLoop(t *testing.T, l *loop.Loop) (wait func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() { cancel(); l.Close() })
	return func() error {
		select {
		case err := <-done:
			return err
		case <-time.After(60 * time.Second):
			return errors.New("loop did not stop")
		}
	}
}

type echoConn struct{}

func (echoConn) OnOpen(*loop.Conn)                {}
func (echoConn) OnData(c *loop.Conn, data []byte) { c.Write(data) }
func (echoConn) OnClose(*loop.Conn, error)        {}

// ringSink watches rx on l, verifies the sequence seq(0), seq(1), ... and
// reports the count and terminal error once the stream ends.
func ringSink(t *testing.T, l *loop.Loop, rx *fdring.Receiver[uint64], done func(n uint64, err error)) {
	t.Helper()
	var tok loop.Token
	var got uint64
	read := func(d []uint64) int {
		for _, v := range d {
			if v != seq(got) {
				t.Errorf("item %d = %#x", got, v)
			}
			got++
		}
		return len(d)
	}
	tok, err := l.Watch(rx, loop.HandlerFunc(func(loop.Token, loop.Event) {
		for range 8 {
			n, err := rx.Recv(read)
			if err != nil {
				l.Unwatch(tok)
				done(got, err)
				return
			}
			if n == 0 {
				return
			}
		}
	}), loop.Readable)
	if err != nil {
		t.Fatal(err)
	}
}

func produceSeq(ctx context.Context, tx *fdring.Sender[uint64], n uint64) error {
	next := uint64(0)
	fill := func(f []uint64) int {
		k := min(uint64(len(f)), n-next, 100)
		for i := range f[:k] {
			f[i] = seq(next)
			next++
		}
		return int(k)
	}
	for next < n {
		if _, err := tx.SendWait(ctx, fill); err != nil {
			return err
		}
	}
	return tx.Close()
}

// TestLoopRingsAndSockets: 16 rings with producer goroutines and 8 TCP echo
// clients, all served by one loop thread at the same time.
func TestLoopRingsAndSockets(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			l, err := loop.New(b.opts...)
			if err != nil {
				t.Fatal(err)
			}
			const rings, items = 16, 20_000
			const clients, bytesPer = 8, 256 << 10
			var mu sync.Mutex
			finished := 0
			results := make(chan error, rings)
			ctx := testCtx(t)
			for range rings {
				tx, rx, err := fdring.New[uint64](256)
				if err != nil {
					t.Fatal(err)
				}
				ringSink(t, l, rx, func(n uint64, err error) {
					if err == io.EOF && n == items {
						err = nil
					} else {
						err = fmt.Errorf("ring ended after %d items with %v", n, err)
					}
					results <- err
					rx.Close()
				})
				go func() {
					if err := produceSeq(ctx, tx, items); err != nil {
						t.Error(err)
					}
				}()
			}
			ln, err := l.Listen("tcp", "127.0.0.1:0", echoConn{})
			if err != nil {
				t.Fatal(err)
			}
			wait := runLoop(t, l)
			var wg sync.WaitGroup
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := echoClient(ln.Addr().String(), c, bytesPer); err != nil {
						t.Error(err)
					}
					mu.Lock()
					finished++
					mu.Unlock()
				}()
			}
			for range rings {
				if err := <-results; err != nil {
					t.Error(err)
				}
			}
			wg.Wait()
			l.Stop()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if finished != clients {
				t.Fatalf("%d of %d clients finished", finished, clients)
			}
			st := l.Stats()
			if st.RingDispatches == 0 || st.Accepted != clients {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// echoClient sends n patterned bytes in chunks and verifies the echo.
func echoClient(addr string, id, n int) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	msg := make([]byte, n)
	for i := range msg {
		msg[i] = byte(i*7 + id)
	}
	errc := make(chan error, 1)
	go func() {
		for off := 0; off < n; off += 4096 {
			if _, err := c.Write(msg[off:min(off+4096, n)]); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("client %d: %w", id, err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("client %d: echo differs", id)
	}
	return <-errc
}

// TestLoopPingPongSyscalls: a request ring into the loop and a reply ring
// out of it, one message at a time (idle between messages). Per message
// the loop may sleep and be woken at most once, and each side signals at
// most once.
func TestLoopPingPongSyscalls(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			l, err := loop.New(b.opts...)
			if err != nil {
				t.Fatal(err)
			}
			reqTx, reqRx, err := fdring.New[uint64](16, fdring.WithSpin(0))
			if err != nil {
				t.Fatal(err)
			}
			repTx, repRx, err := fdring.New[uint64](16, fdring.WithSpin(0))
			if err != nil {
				t.Fatal(err)
			}
			defer reqTx.Close()
			defer repRx.Close()
			var tok loop.Token
			tok, err = l.Watch(reqRx, loop.HandlerFunc(func(loop.Token, loop.Event) {
				for {
					var v uint64
					n, err := reqRx.Recv(func(d []uint64) int { v = d[0]; return 1 })
					if err != nil {
						l.Unwatch(tok)
						repTx.Close()
						return
					}
					if n == 0 {
						return
					}
					if n, err := repTx.Send(func(f []uint64) int { f[0] = v + 1; return 1 }); n != 1 || err != nil {
						t.Errorf("reply: %d, %v", n, err)
					}
				}
			}), loop.Readable)
			if err != nil {
				t.Fatal(err)
			}
			wait := runLoop(t, l)
			ctx := testCtx(t)
			const rounds = 300
			for i := range uint64(rounds) {
				if _, err := reqTx.Send(func(f []uint64) int { f[0] = i; return 1 }); err != nil {
					t.Fatal(err)
				}
				var v uint64
				if _, err := repRx.RecvWait(ctx, func(d []uint64) int { v = d[0]; return 1 }); err != nil {
					t.Fatal(err)
				}
				if v != i+1 {
					t.Fatalf("round %d: reply %d", i, v)
				}
			}
			reqTx.Close()
			if _, err := repRx.RecvWait(ctx, func(d []uint64) int { return len(d) }); err != io.EOF {
				t.Fatalf("after close: %v", err)
			}
			l.Stop()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			st := l.Stats()
			sig := reqTx.Stats().Signals
			if sig > rounds+1 || repTx.Stats().Signals > rounds+1 {
				t.Fatalf("signals %d/%d for %d messages", sig, repTx.Stats().Signals, rounds)
			}
			if st.Wakeups > 2*rounds+2 || st.PollsBlocking > 2*rounds+2 {
				t.Fatalf("loop stats %+v for %d messages", st, rounds)
			}
			t.Logf("%d messages: %d request signals, %d loop wakeups, %d blocking polls", rounds, sig, st.Wakeups, st.PollsBlocking)
		})
	}
}

// TestLoopSaturatedNoSyscalls: when producers are faster than the loop,
// the loop polls without blocking and (almost) never sleeps.
func TestLoopSaturatedNoSyscalls(t *testing.T) {
	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	const rings, items = 4, 200_000
	ctx := testCtx(t)
	results := make(chan error, rings)
	var senders []*fdring.Sender[uint64]
	for range rings {
		tx, rx, err := fdring.New[uint64](1024)
		if err != nil {
			t.Fatal(err)
		}
		// Fill each ring before the loop starts: it begins saturated.
		tx.Send(func(f []uint64) int {
			for i := range f {
				f[i] = seq(uint64(i))
			}
			return len(f)
		})
		senders = append(senders, tx)
		ringSink(t, l, rx, func(n uint64, err error) {
			if err != io.EOF || n != items {
				err = fmt.Errorf("ring ended after %d with %v", n, err)
			} else {
				err = nil
			}
			results <- err
		})
	}
	wait := runLoop(t, l)
	for _, tx := range senders {
		go func() {
			next := uint64(1024)
			for next < items {
				_, err := tx.SendWait(ctx, func(f []uint64) int {
					k := min(uint64(len(f)), items-next)
					for i := range f[:k] {
						f[i] = seq(next)
						next++
					}
					return int(k)
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
			tx.Close()
		}()
	}
	for range rings {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	l.Stop()
	wait()
	st := l.Stats()
	perMsg := float64(st.PollsBlocking+st.PollsNonBlocking) / float64(rings*items)
	t.Logf("loop polls per message %.5f (%+v)", perMsg, st)
	if perMsg > 0.05 {
		t.Fatalf("loop made %.4f polls per message", perMsg)
	}
}
