package fdring_test

// Attacks on the one-connection design: the liveness watch against a
// death hidden from the connection, shutdown and empty messages from a
// live peer, fd numbers reused after Close, Close racing a blocked call,
// a lying memory size, and fd and goroutine counts around Arm and Close.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/ring"
)

// dialPair returns both sides of a channel made by Dial and Accept in this
// process, on l.
func dialPair(t *testing.T, l *fdring.Listener, capacity int, opts ...fdring.Option) (*fdring.Sender[uint64], *fdring.Receiver[uint64]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type dialed struct {
		tx  *fdring.Sender[uint64]
		err error
	}
	dc := make(chan dialed, 1)
	go func() {
		tx, err := fdring.DialContext[uint64](ctx, l.Path(), capacity, opts...)
		dc <- dialed{tx, err}
	}()
	rx, err := fdring.AcceptContext[uint64](ctx, l)
	d := <-dc
	if err != nil || d.err != nil {
		t.Fatalf("dial: %v; accept: %v", d.err, err)
	}
	return d.tx, rx
}

// settleGoroutines waits (bounded) for the goroutine count to drop to at
// most want, and returns the last count.
func settleGoroutines(want int) int {
	deadline := time.Now().Add(5 * time.Second)
	n := runtime.NumGoroutine()
	for n > want && time.Now().Before(deadline) {
		runtime.Gosched()
		n = runtime.NumGoroutine()
	}
	return n
}

// TestAttack2ArmThenCloseReleasesFds: a side that was armed once (as an
// event loop does, or a caller that polls Fd itself) and is then closed
// keeps its wakeup socket open until its owner makes another call or the
// garbage collector runs the ring's cleanup. Close is documented to
// release the side's fds once nothing uses them; a caller that keeps the
// closed side referenced (a struct field, a map of connections) and makes
// no more calls holds the fd for as long. FuzzHostileScript found it
// (testdata seed c48104f8e0ae6463: real Receiver, Arm, Close).
func TestAttack2ArmThenCloseReleasesFds(t *testing.T) {
	for _, armed := range []string{"receiver", "sender", "both", "none"} {
		t.Run(armed, func(t *testing.T) {
			l := listen(t)
			before := fdCount(t)
			g0 := runtime.NumGoroutine()
			tx, rx := dialPair(t, l, 64)
			if armed == "receiver" || armed == "both" {
				rx.Arm()
			}
			if armed == "sender" || armed == "both" {
				tx.Arm()
			}
			if err := tx.Close(); err != nil {
				t.Errorf("sender Close: %v", err)
			}
			if err := rx.Close(); err != nil {
				t.Errorf("receiver Close: %v", err)
			}
			after := fdCount(t)
			g1 := settleGoroutines(g0)
			runtime.KeepAlive(tx)
			runtime.KeepAlive(rx)
			// More after than before is a leak; fewer is an fd an
			// earlier test left to a cleanup or a goroutine, released
			// meanwhile (seen under -count=20 after the duplex tests).
			if after > before {
				t.Errorf("armed %s: %d fds before the channel, %d after both sides' Close (the sides are still referenced)", armed, before, after)
			}
			if g1 > g0 {
				t.Errorf("armed %s: %d goroutines before, %d after both sides' Close", armed, g0, g1)
			}
		})
	}
}

// pollReadable reports whether fd becomes readable within d.
func pollReadable(fd int, d time.Duration) (bool, error) {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, int(min(left, time.Second)/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, err
		}
		if n > 0 {
			return true, nil
		}
	}
}

// holderPid starts, in the hostile child, a process that holds every fd
// of the child (the connection, the memfd) and outlives it; t's cleanup
// kills it.
func holderPid(t *testing.T, c *hostileChild) int {
	t.Helper()
	pid, err := strconv.Atoi(c.do("holder"))
	if err != nil || pid <= 0 {
		t.Fatalf("holder pid: %v", err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

// TestAttack2LoopDeathHiddenByHolder: the peer leaves its end of the
// connection to a process of its own, then dies. The pidfd watch sees the
// death (a RecvWait or SendWait in progress is interrupted), but an event
// loop sleeps in epoll_wait on the side's Fd, which only the connection
// makes readable: the side was armed, the peer is gone, and Fd must become
// readable so that the loop looks (Arm's contract: Fd becomes readable
// when a Recv/Send would return data or an error). Here nothing ever
// makes it readable; a loop serving this side sleeps for ever.
func TestAttack2LoopDeathHiddenByHolder(t *testing.T) {
	t.Run("receiver", func(t *testing.T) {
		c := startHostileChild(t)
		l := listen(t)
		rx := acceptChild(t, c, l, 64, "")
		if rx.Arm() {
			t.Fatal("Arm on an empty ring with a live peer = true")
		}
		holderPid(t, c)
		c.kill()
		ok, err := pollReadable(rx.Fd(), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Errorf("the producer died (its connection held by another process); the armed receiver's Fd never became readable within 10 s (Ready = %v): a loop watching it never learns", rx.Ready())
		}
		_, rerr := rx.Recv(func(d []uint64) int { return len(d) })
		if !errors.Is(rerr, fdring.ErrPeerGone) {
			t.Errorf("Recv after the death = %v, want ErrPeerGone", rerr)
		}
	})
	t.Run("sender", func(t *testing.T) {
		c := startHostileChild(t)
		path := sockPath(t)
		c.do("listen " + path)
		c.send("accept")
		tx := dial(t, path, 4)
		c.expect()
		fillRing(t, tx)
		if tx.Arm() {
			t.Fatal("Arm on a full ring with a live peer = true")
		}
		holderPid(t, c)
		c.kill()
		ok, err := pollReadable(tx.Fd(), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Errorf("the consumer died (its connection held by another process); the armed sender's Fd never became readable within 10 s (Ready = %v): a loop watching it never learns", tx.Ready())
		}
		_, serr := tx.Send(func(f []uint64) int { return len(f) })
		if !errors.Is(serr, fdring.ErrPeerGone) {
			t.Errorf("Send after the death = %v, want ErrPeerGone", serr)
		}
	})
	t.Run("recvwait", func(t *testing.T) {
		// The control: a blocking wait is interrupted by the watch.
		c := startHostileChild(t)
		l := listen(t)
		rx := acceptChild(t, c, l, 64, "")
		c.do("produce 5")
		holderPid(t, c)
		res := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got := 0
			for {
				n, err := rx.RecvWait(ctx, func(d []uint64) int { return len(d) })
				got += n
				if err != nil {
					if got != 5 {
						err = fmt.Errorf("%d items then %w", got, err)
					}
					res <- err
					return
				}
			}
		}()
		c.kill()
		err := awaitErr(t, res, 25*time.Second, "RecvWait")
		if !errors.Is(err, fdring.ErrPeerGone) || strings.Contains(err.Error(), "items then") {
			t.Errorf("RecvWait after a hidden death = %v, want 5 items then ErrPeerGone", err)
		}
	})
}

func dial(t *testing.T, path string, capacity int) *fdring.Sender[uint64] {
	t.Helper()
	tx, err := fdring.DialContext[uint64](testCtx(t), path, capacity)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	return tx
}

// TestAttack2LivePeerShutdownAndEmptyMessages: a live producer shuts its
// end of the connection down (read, write or both), or sends empty
// messages, then keeps producing. The consumer must neither spin nor
// block beyond its context; what it reports is recorded (a live peer that
// breaks the connection may be taken for dead: ErrPeerGone after the data
// committed so far).
func TestAttack2LivePeerShutdownAndEmptyMessages(t *testing.T) {
	for _, how := range []string{"shutdown conn rd", "shutdown conn wr", "shutdown conn rdwr", "zeromsg conn"} {
		t.Run(strings.ReplaceAll(how, " ", "_"), func(t *testing.T) {
			c := startHostileChild(t)
			l := listen(t)
			rx := acceptChild(t, c, l, 64, "")
			c.do("produce 3")
			c.do(how)
			c.do("produce 3")
			c.send("signal")
			c.reply(10 * time.Second) // fails after a shutdown of its sending side: ignored
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start, cpu0 := time.Now(), cpuTime()
			got := 0
			var err error
			for i := 0; i < 1000 && err == nil; i++ {
				var n int
				n, err = rx.RecvWait(ctx, func(d []uint64) int { return len(d) })
				got += n
			}
			elapsed, cpu := time.Since(start), cpuTime()-cpu0
			t.Logf("%s: %d items then %v after %v (%v CPU)", how, got, err, elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond))
			if err == nil {
				t.Fatal("1000 RecvWait calls without an end")
			}
			if elapsed > 4*time.Second {
				t.Errorf("RecvWait ran %v past a 2 s context", elapsed)
			}
			if cpu > elapsed/2+200*time.Millisecond {
				t.Errorf("%v of CPU in %v: the consumer spins", cpu, elapsed)
			}
			if !errors.Is(err, fdring.ErrPeerGone) && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: ended with %v, want ErrPeerGone or the context's deadline", how, err)
			}
			if got < 3 {
				t.Errorf("%s: %d items before the end, want at least the 3 committed before", how, got)
			}
		})
	}
}

// canaries are socket pairs made after a Close, so that they take the fd
// numbers the closed side released.
type canaries [][2]int

func newCanaries(t *testing.T, n int) canaries {
	t.Helper()
	var cs canaries
	for range n {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, [2]int{fds[0], fds[1]})
	}
	return cs
}

// check reports every canary that was shut down, closed or written to by
// somebody else, and closes them all.
func (cs canaries) check(t *testing.T, what string) {
	t.Helper()
	var b [8]byte
	for _, p := range cs {
		for _, fd := range p {
			n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_DONTWAIT)
			if err != unix.EAGAIN {
				t.Errorf("%s: canary fd %d reads %d, %v (want EAGAIN): the closed side touched a reused fd number", what, fd, n, err)
			}
		}
		for i, fd := range p {
			if err := unix.Sendto(fd, []byte{7}, unix.MSG_DONTWAIT, nil); err != nil {
				t.Errorf("%s: canary fd %d: send: %v", what, fd, err)
			}
			n, _, err := unix.Recvfrom(p[1-i], b[:], unix.MSG_DONTWAIT)
			if err != nil || n != 1 || b[0] != 7 {
				t.Errorf("%s: canary fd %d: the message sent on it reads %d, %v", what, fd, n, err)
			}
		}
		unix.Close(p[0])
		unix.Close(p[1])
	}
}

// TestAttack2FdReuseAfterClose: Close both sides (armed or not), open many
// sockets, which take the fd numbers the sides released, then call every
// method of both sides. No call may touch a reused number.
func TestAttack2FdReuseAfterClose(t *testing.T) {
	for _, armed := range []bool{false, true} {
		t.Run(fmt.Sprintf("armed=%v", armed), func(t *testing.T) {
			l := listen(t)
			tx, rx := dialPair(t, l, 8)
			if _, err := tx.Send(func(f []uint64) int { return 3 }); err != nil {
				t.Fatal(err)
			}
			if armed {
				rx.Arm()
				tx.Arm()
			}
			tx.Close()
			rx.Close()
			cs := newCanaries(t, 64)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for range 2 {
				tx.Send(func(f []uint64) int { return len(f) })
				tx.SendWait(ctx, func(f []uint64) int { return len(f) })
				if f, _ := tx.Reserve(); f != nil {
					t.Error("Reserve after Close returned memory")
				}
				tx.Commit(0)
				tx.Wait(ctx)
				tx.WaitClear()
				tx.Arm()
				tx.Ready()
				tx.Fd()
				tx.Stats()
				tx.Cap()
				tx.EdgeTriggered()
				tx.Close()
				rx.Recv(func(d []uint64) int { return len(d) })
				rx.RecvWait(ctx, func(d []uint64) int { return len(d) })
				if d, _ := rx.Peek(); d != nil {
					t.Error("Peek after Close returned memory")
				}
				rx.Release(0)
				rx.Wait(ctx)
				rx.WaitClear()
				rx.Arm()
				rx.Ready()
				rx.Fd()
				rx.Stats()
				rx.Cap()
				rx.EdgeTriggered()
				rx.Close()
			}
			if ctx.Err() != nil {
				t.Error("a call after Close blocked until the context ended")
			}
			cs.check(t, "after every method")
			runtime.GC()
			runtime.GC()
			cs2 := newCanaries(t, 64)
			runtime.KeepAlive(tx)
			runtime.KeepAlive(rx)
			tx, rx = nil, nil
			runtime.GC() // the rings' cleanups run: they must not touch the canaries either
			runtime.GC()
			cs2.check(t, "after the cleanups")
		})
	}
}

// TestAttack2CloseVsBlockedWait: Close from another goroutine while the
// owner is blocked in RecvWait or SendWait. The blocked call may release
// the side (and close its wakeup socket) as soon as Close wakes it, while
// Close still has the socket's shutdown (wakeOwn) to make on the fd
// number. Meanwhile this process keeps opening sockets; none of them may
// be shut down by somebody else's Close.
func TestAttack2CloseVsBlockedWait(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 100
	}
	l := listen(t)
	hits := 0
	for i := range rounds {
		tx, rx := dialPair(t, l, 4)
		send := i%2 == 1
		if send {
			fillRing(t, tx)
		}
		blocked := make(chan error, 1)
		entered := make(chan struct{})
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			close(entered)
			var err error
			if send {
				_, err = tx.SendWait(ctx, func(f []uint64) int { return len(f) })
			} else {
				_, err = rx.RecvWait(ctx, func(d []uint64) int { return len(d) })
			}
			blocked <- err
		}()
		<-entered
		// The waiter exists once the side slept at least once.
		waitFor(t, "the blocked call to sleep", func() bool {
			if send {
				return tx.Stats().Waits > 0
			}
			return rx.Stats().Waits > 0
		})
		stop := make(chan struct{})
		made := make(chan canaries, 1)
		go func() {
			var cs canaries
			for len(cs) < 512 {
				select {
				case <-stop:
					made <- cs
					return
				default:
				}
				fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					break
				}
				cs = append(cs, [2]int{fds[0], fds[1]})
			}
			made <- cs
		}()
		if send {
			tx.Close()
		} else {
			rx.Close()
		}
		err := awaitErr(t, blocked, 20*time.Second, "the blocked call")
		close(stop)
		cs := <-made
		before := t.Failed()
		cs.check(t, fmt.Sprintf("round %d (send=%v)", i, send))
		if !before && t.Failed() {
			hits++
		}
		if !errors.Is(err, fdring.ErrClosed) {
			t.Errorf("round %d: the blocked call ended with %v, want ErrClosed", i, err)
		}
		tx.Close()
		rx.Close()
		if hits > 0 {
			break
		}
	}
}

// TestAttack2HugeMemoryOnThePeersWord: the producer asks for the largest
// ring the consumer accepts of its element type (512 GiB of memory: a sparse,
// sealed memfd costs it nothing). Accept maps all of it: address space the
// peer chose. This records how much; 256 such channels exhaust a 47-bit
// address space, and the consumer's own allocations then fail (the Go
// runtime dies of "out of memory").
func TestAttack2HugeMemoryOnThePeersWord(t *testing.T) {
	capacity := 1 << 36 // 512 GiB of uint64 (1 TiB, shm.MaxSize, has no room for the header)
	if ring.Size[uint64](capacity) == 0 {
		t.Skip("capacity refused by ring.Size")
	}
	l := listen(t)
	vm0 := vmSize(t)
	res := make(chan error, 1)
	var p *fakePeer
	go func() {
		var err error
		p, err = dialFake(l.Path(), capacity)
		res <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rx, aerr := fdring.AcceptContext[uint64](ctx, l)
	derr := awaitErr(t, res, 20*time.Second, "the fake producer")
	if aerr != nil {
		t.Logf("Accept refused a 1 TiB ring: %v (fake producer: %v)", aerr, derr)
		if p != nil {
			p.release()
		}
		return
	}
	defer p.release()
	defer rx.Close()
	vm1 := vmSize(t)
	// The fake producer mapped its own 1 TiB as well.
	t.Logf("Accept took a ring of %d elements; this process's address space grew by %d GiB (the fake producer's mapping included)", rx.Cap(), (vm1-vm0)>>30)
	if acc := vm1 - vm0; acc > 3<<39/2 {
		t.Errorf("Accept mapped %d GiB of address space on the peer's word (no limit on the consumer's side)", (acc-(1<<39))>>30)
	}
}

func vmSize(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmSize:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmSize")
	return 0
}

// TestAttack2CleanCloseThenExit: the peer closes its side cleanly, then
// its process ends (killed at once, or after leaving its fds to a holder).
// The close stands: the consumer gets everything, then io.EOF; the
// producer gets ErrClosed, never ErrPeerGone.
func TestAttack2CleanCloseThenExit(t *testing.T) {
	for _, holder := range []bool{false, true} {
		t.Run(fmt.Sprintf("consumer/holder=%v", holder), func(t *testing.T) {
			c := startHostileChild(t)
			l := listen(t)
			rx := acceptChild(t, c, l, 64, "")
			c.do("produce 7")
			c.do("close")
			if holder {
				holderPid(t, c)
			}
			c.kill()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got := 0
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				var n int
				n, err = rx.RecvWait(ctx, func(d []uint64) int { return len(d) })
				got += n
			}
			if got != 7 || err != io.EOF {
				t.Errorf("%d items then %v, want 7 then io.EOF", got, err)
			}
		})
		t.Run(fmt.Sprintf("producer/holder=%v", holder), func(t *testing.T) {
			c := startHostileChild(t)
			path := sockPath(t)
			c.do("listen " + path)
			c.send("accept")
			tx := dial(t, path, 4)
			c.expect()
			c.do("close")
			if holder {
				holderPid(t, c)
			}
			c.kill()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				_, err = tx.SendWait(ctx, func(f []uint64) int { return len(f) })
			}
			if !errors.Is(err, fdring.ErrClosed) || errors.Is(err, fdring.ErrPeerGone) {
				t.Errorf("SendWait after a clean close and an exit = %v, want ErrClosed", err)
			}
		})
	}
}

// TestAttack2CloseWhileProducerWakes: the sender is closed while its owner
// sleeps in SendWait on a ring of one element that the receiver keeps
// draining (so the owner wakes all the time). Close marks the side closed
// (sideState) before it publishes the close in the ring (ringClose); an
// owner's wait that returns in between sees the side closed, is the last
// blocking call, and releases the channel: it closes the connection while
// the ring does not say closed yet. The receiver's process then sees the
// hang-up first (its watch, its wait or its signal) and records a death:
// ErrPeerGone, where the sender closed cleanly (io.EOF). The same window
// lets the closer's wakeOwn shut down an fd number the owner just closed.
// TestLifecycleCloseWithObservers/dial fails this way under the race
// detector (about once in 40 runs).
func TestAttack2CloseWhileProducerWakes(t *testing.T) {
	rounds := 300
	if testing.Short() {
		rounds = 60
	}
	l := listen(t)
	wrong := 0
	for i := range rounds {
		tx, rx := dialPair(t, l, 1, fdring.WithSpin(0))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		prod := make(chan error, 1)
		go func() {
			for {
				if _, err := tx.SendWait(ctx, func(f []uint64) int { return 1 }); err != nil {
					prod <- err
					return
				}
			}
		}()
		var got atomic.Int64
		cons := make(chan error, 1)
		go func() {
			for {
				n, err := rx.RecvWait(ctx, func(d []uint64) int { return len(d) })
				got.Add(int64(n))
				if err != nil {
					cons <- err
					return
				}
			}
		}()
		want := int64(i%16 + 1)
		deadline := time.Now().Add(10 * time.Second)
		for got.Load() < want && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		tx.Close()
		perr := awaitErr(t, prod, 20*time.Second, "the producer")
		cerr := awaitErr(t, cons, 20*time.Second, "the consumer")
		if !errors.Is(perr, fdring.ErrClosed) {
			t.Errorf("round %d: the producer ended with %v, want ErrClosed", i, perr)
		}
		if cerr != io.EOF {
			wrong++
			if wrong <= 3 {
				t.Errorf("round %d: the consumer ended with %v after %d items, want io.EOF (the sender closed cleanly)", i, cerr, got.Load())
			}
		}
		cancel()
		rx.Close()
	}
	if wrong > 0 {
		t.Errorf("%d of %d rounds reported a clean close as something else", wrong, rounds)
	}
}
