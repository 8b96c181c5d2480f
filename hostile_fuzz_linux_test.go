package fdring_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/ring"
	"golang.org/x/sys/unix"
)

// FuzzHostileScript runs a byte script against one real side of a
// cross-process ring (made with the real Dial or Accept, in this process)
// whose other side is a fakePeer. The first byte picks the real side
// (bit 0: 0 = a real Receiver fed by a fake producer, 1 = a real Sender
// feeding a fake consumer) and the capacity (bits 1-3: 1 << n). Then each
// pair of bytes is one operation and its argument: honest calls of the
// real side (Send/Recv, SendWait/RecvWait and Wait with a short deadline,
// Reserve/Commit or Peek/Release, Arm/WaitClear, Close, Close from inside
// a callback), honest steps of the fake peer (publish/consume, signal,
// close) and hostile ones (write any shared word, flood or drain or
// shut down a wakeup socket, send a zero-length message or fds in
// flight, clear O_NONBLOCK on the shared descriptions, duplicate or close
// all its fds).
//
// It asserts: no panic and no fault; no call blocks longer than its
// context plus a slack (a watchdog dumps every goroutine if one does); a
// wait does not burn a CPU for its whole deadline; every error is
// ErrCorrupt, ErrPeerGone, ErrClosed, io.EOF or the context's; after this
// side's Close every call reports ErrClosed; slices handed to callbacks
// hold 1..capacity elements; the final Close returns and releases every
// fd.
func FuzzHostileScript(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s)
	}
	skip := map[int]bool{}
	for _, name := range strings.Split(os.Getenv("FDRING_FUZZ_SKIP_OPS"), ",") {
		for i, n := range opNames {
			if n == name {
				skip[i] = true
			}
		}
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(skip) > 0 {
			// Exploring past a known failure: leave out the operations
			// it needs (FDRING_FUZZ_SKIP_OPS=write,zeroMsg,...).
			for i := 1; i+1 < len(script); i += 2 {
				if skip[int(script[i])%numOps] {
					return
				}
			}
		}
		runHostileScript(t, script)
	})
}

// Operation codes (op % numOps).
const (
	opRealNB        = iota // Send / Recv of arg%cap+1 elements
	opRealWait             // SendWait / RecvWait, deadline waitDeadline(arg)
	opRealClose            // Close
	opRealReserve          // Reserve+Commit / Peek+Release of arg elements
	opRealWaitOnly         // Sender.Wait / Receiver.Wait, deadline waitDeadline(arg)
	opRealCloseInCB        // Close from inside a callback, which then touches its whole slice
	opRealArm              // Arm, WaitClear, Ready, Stats
	opFakeStep             // fake peer: publish / consume arg elements honestly
	opFakeClose            // fake peer: honest close
	opFakeSignal           // fake peer: one wakeup byte
	opWrite                // write shared word arg&7 with value selector arg>>3
	opWriteState           // write rxState/txState (arg&1) with 0..7 (arg>>1)
	opFlood                // flood socket (arg&3)%3 with up to 1<<(arg>>2&15) messages
	opZeroMsg              // zero-length message on socket (arg&3)%3
	opNonblock             // clear O_NONBLOCK on every fd the fake holds
	opShutdown             // shutdown socket (arg&3)%3, how (arg>>2)%3
	opRights               // send all the fake's fds in flight on socket (arg&3)%3
	opDrain                // drain socket (arg&3)%3
	opDie                  // close every fd of the fake peer
	opDup                  // duplicate every fd of the fake peer
	opRealWaitBG           // start SendWait / RecvWait (deadline 4*waitDeadline(arg)) in the background: the ops that follow run while it waits; the next real call other than Close first collects it
	opAwaitSleep           // fake peer: wait (at most 20ms) until the real side declared it sleeps
	opAwaitState           // fake peer: wait (at most 1s, see awaitBudget) until rxState (arg&1 == 0) or txState holds (arg>>1)&3
	numOps
)

var opNames = [numOps]string{"realNB", "realWait", "realClose", "realReserve", "realWaitOnly", "realCloseInCB", "realArm",
	"fakeStep", "fakeClose", "fakeSignal", "write", "writeState", "flood", "zeroMsg", "nonblock", "shutdown", "rights",
	"drain", "die", "dup", "realWaitBG", "awaitSleep", "awaitState"}

var waitDeadlines = [4]time.Duration{time.Millisecond, 3 * time.Millisecond, 8 * time.Millisecond, 40 * time.Millisecond}

func waitDeadline(arg byte) time.Duration { return waitDeadlines[arg%4] }

// watchdogSlack is how long past its deadline a call may take on a loaded
// machine (and under the race detector) before it counts as blocked.
const watchdogSlack = 5 * time.Second

// maxScriptOps bounds the work of one input.
const maxScriptOps = 48

func hostileValue(p *fakePeer, w int, sel byte) uint64 {
	cur := p.load(w)
	c := p.capacity
	switch sel % 16 {
	case 0:
		return 0
	case 1:
		return 1
	case 2:
		return 2
	case 3:
		return 3
	case 4:
		return 5
	case 5:
		return cur + 1
	case 6:
		return cur - 1
	case 7:
		return cur + c
	case 8:
		return cur + c + 1
	case 9:
		return ^uint64(0)
	case 10:
		return 1 << 63
	case 11:
		return p.load(wordIndex("head")) + c // tail: full; head: beyond tail
	case 12:
		return p.load(wordIndex("tail")) // head: caught up; tail: unchanged
	case 13:
		return cur + 1<<32
	case 14:
		return 0xdeadbeef
	default:
		return c
	}
}

// scriptRun is the state of one script.
type scriptRun struct {
	t          *testing.T
	producer   bool // the fake peer produces (the real side is a Receiver)
	capacity   int
	tx         *fdring.Sender[uint64]
	rx         *fdring.Receiver[uint64]
	p          *fakePeer
	closed     bool                   // the real side was closed
	bg         chan func()            // the result of a background wait, to check (see opRealWaitBG)
	bad        atomic.Pointer[string] // the first violation seen inside a callback
	bgDeadline time.Duration
	awaited    time.Duration // spent in await
	// flooded: the fake peer queued a flood of wakeups, which the real
	// side drains (bounded per wait, but at CPU cost): the spin check is
	// off from then on.
	flooded bool
	log     []string
}

func (r *scriptRun) fail(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s\nscript so far:\n  %s", fmt.Sprintf(format, args...), strings.Join(r.log, "\n  "))
}

// call runs f on another goroutine and waits at most limit for it: a call
// that does not return is reported with every goroutine's stack.
func (r *scriptRun) call(name string, limit time.Duration, f func() error) error {
	r.t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		// Try to end the stuck call (Close from another goroutine), so
		// that it does not burn a CPU for the rest of the test binary.
		go r.closeReal()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		r.fail("%s did not return within %v (blocked or spinning)\n%s", name, limit, buf)
		return nil
	}
}

// check validates the outcome of a real call.
func (r *scriptRun) check(name string, n int, err error) {
	r.t.Helper()
	r.log = append(r.log, fmt.Sprintf("-> %d, %v", n, err))
	if n < 0 || n > r.capacity {
		r.fail("%s returned n=%d (capacity %d)", name, n, r.capacity)
	}
	r.checkErr(name, err, r.closed)
}

// checkErr validates an error of a real call; closed: this side was
// closed before the call began.
func (r *scriptRun) checkErr(name string, err error, closed bool) {
	r.t.Helper()
	if err == nil {
		return
	}
	if closed && !errors.Is(err, fdring.ErrClosed) {
		r.fail("%s after this side's Close: %v, want ErrClosed", name, err)
	}
	for _, ok := range []error{fdring.ErrCorrupt, fdring.ErrPeerGone, fdring.ErrClosed, io.EOF, context.DeadlineExceeded, context.Canceled} {
		if errors.Is(err, ok) {
			return
		}
	}
	r.fail("%s: unexpected error %v", name, err)
}

// checkSlice runs inside callbacks, on whatever goroutine made the call:
// it records a violation, which the test goroutine reports.
func (r *scriptRun) checkSlice(name string, n int) {
	if n < 1 || n > r.capacity {
		msg := fmt.Sprintf("%s: callback got %d elements (capacity %d)", name, n, r.capacity)
		r.bad.CompareAndSwap(nil, &msg)
	}
}

func (r *scriptRun) reportViolations() {
	r.t.Helper()
	if msg := r.bad.Load(); msg != nil {
		r.fail("%s", *msg)
	}
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timedWait runs a real wait with deadline d, with the watchdog, and
// checks that it did not burn a CPU for its whole duration.
func (r *scriptRun) timedWait(name string, d time.Duration, f func(ctx context.Context) (int, error)) {
	r.t.Helper()
	var n int
	start, cpu0 := time.Now(), cpuTime()
	err := r.call(name, d+watchdogSlack, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		var err error
		n, err = f(ctx)
		return err
	})
	wall, cpu := time.Since(start), cpuTime()-cpu0
	if !r.flooded && d >= 40*time.Millisecond && wall >= 30*time.Millisecond && cpu > wall*95/100 {
		r.fail("%s (deadline %v) took %v and %v of CPU: it spun instead of sleeping", name, d, wall, cpu)
	}
	r.check(name, n, err)
}

func (r *scriptRun) fill(name string, want int) func([]uint64) int {
	return func(f []uint64) int {
		r.checkSlice(name, len(f))
		k := min(len(f), want)
		for i := range f[:k] {
			f[i] = uint64(i)
		}
		return k
	}
}

func (r *scriptRun) read(name string, want int) func([]uint64) int {
	return func(d []uint64) int {
		r.checkSlice(name, len(d))
		var sum uint64
		for _, v := range d {
			sum += v
		}
		_ = sum
		return min(len(d), want)
	}
}

func (r *scriptRun) sock(arg byte) int { return int(arg&3) % numSockets }

func (r *scriptRun) step(op, arg byte) {
	r.t.Helper()
	code := int(op) % numOps
	if code <= opRealArm && code != opRealClose || code == opRealWaitBG {
		r.joinBackground() // one call of the owner at a time; Close may overlap
	}
	r.log = append(r.log, fmt.Sprintf("%s(%d)", opNames[code], arg))
	defer r.reportViolations()
	k := int(arg)%r.capacity + 1
	const nb = 3 * time.Second // limit of calls that never block
	p := r.p
	switch code {
	case opRealNB:
		var n int
		err := r.call("Send/Recv", nb, func() (err error) {
			if r.producer {
				n, err = r.rx.Recv(r.read("Recv", k))
			} else {
				n, err = r.tx.Send(r.fill("Send", k))
			}
			return err
		})
		r.check("Send/Recv", n, err)
	case opRealWait:
		if r.producer {
			r.timedWait("RecvWait", waitDeadline(arg), func(ctx context.Context) (int, error) {
				return r.rx.RecvWait(ctx, r.read("RecvWait", k))
			})
		} else {
			r.timedWait("SendWait", waitDeadline(arg), func(ctx context.Context) (int, error) {
				return r.tx.SendWait(ctx, r.fill("SendWait", k))
			})
		}
	case opRealWaitOnly:
		r.timedWait("Wait", waitDeadline(arg), func(ctx context.Context) (int, error) {
			if r.producer {
				return 0, r.rx.Wait(ctx)
			}
			return 0, r.tx.Wait(ctx)
		})
	case opRealClose:
		err := r.call("Close", nb, r.closeReal)
		r.closed = true
		r.check("Close", 0, err)
	case opRealReserve:
		var n int
		err := r.call("Reserve/Peek", nb, func() error {
			if r.producer {
				d, err := r.rx.Peek()
				if err != nil || len(d) == 0 {
					return err
				}
				r.checkSlice("Peek", len(d))
				n = min(len(d), int(arg))
				return r.rx.Release(n)
			}
			f, err := r.tx.Reserve()
			if err != nil || len(f) == 0 {
				return err
			}
			r.checkSlice("Reserve", len(f))
			n = min(len(f), int(arg))
			clear(f)
			return r.tx.Commit(n)
		})
		r.check("Reserve/Peek", n, err)
	case opRealCloseInCB:
		var n int
		var cerr error
		called := false
		err := r.call("CloseInCallback", nb, func() (err error) {
			if r.producer {
				n, err = r.rx.Recv(func(d []uint64) int {
					r.checkSlice("Recv", len(d))
					called, cerr = true, r.rx.Close()
					for i := range d { // read and write the whole slice after Close
						d[i] = ^d[i]
					}
					return len(d)
				})
			} else {
				n, err = r.tx.Send(func(f []uint64) int {
					r.checkSlice("Send", len(f))
					called, cerr = true, r.tx.Close()
					for i := range f {
						f[i] = ^f[i]
					}
					return len(f)
				})
			}
			return err
		})
		// The call reports what it saw before its Close.
		r.check("CloseInCallback", n, err)
		r.closed = true
		if called {
			r.check("Close inside the callback", 0, cerr)
		} else if err := r.call("Close", nb, r.closeReal); err != nil {
			r.check("Close", 0, err)
		}
	case opRealArm:
		err := r.call("Arm", nb, func() error {
			if r.producer {
				r.rx.Arm()
				err := r.rx.WaitClear()
				r.rx.Ready()
				r.rx.Stats()
				return err
			}
			r.tx.Arm()
			err := r.tx.WaitClear()
			r.tx.Ready()
			r.tx.Stats()
			return err
		})
		r.check("Arm/WaitClear", 0, err)
	case opFakeStep:
		if r.producer {
			p.produce(int(arg))
		} else {
			p.consume(int(arg))
		}
	case opFakeClose:
		p.closeHonest()
	case opFakeSignal:
		p.signal()
	case opWrite:
		w := int(arg & 7)
		p.store(w, hostileValue(p, w, arg>>3))
	case opWriteState:
		w := wordIndex("rxState") + int(arg&1)
		p.store(w, uint64(arg>>1)%8)
	case opFlood:
		p.flood(r.sock(arg), 1<<(arg>>2&15))
		r.flooded = true
	case opZeroMsg:
		p.zeroMsg(r.sock(arg))
	case opNonblock:
		p.clearNonblock()
	case opShutdown:
		p.shutdownSock(r.sock(arg), []int{unix.SHUT_RD, unix.SHUT_WR, unix.SHUT_RDWR}[(arg>>2)%3])
	case opRights:
		p.sendRights(r.sock(arg), p.allFds()...)
	case opDrain:
		p.drain(r.sock(arg), 1<<16)
	case opDie:
		p.die()
	case opDup:
		p.dupAll()
	case opRealWaitBG:
		d := 4 * waitDeadline(arg)
		res := make(chan func(), 1)
		start, cpu0 := time.Now(), cpuTime()
		flooded, closed := r.flooded, r.closed
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			var n int
			var err error
			if r.producer {
				n, err = r.rx.RecvWait(ctx, r.read("RecvWait", k))
			} else {
				n, err = r.tx.SendWait(ctx, r.fill("SendWait", k))
			}
			wall, cpu := time.Since(start), cpuTime()-cpu0
			res <- func() {
				r.log = append(r.log, fmt.Sprintf("background wait (%v) -> %d, %v after %v", d, n, err, wall))
				if !flooded && !r.flooded && d >= 40*time.Millisecond && wall >= 30*time.Millisecond && cpu > wall*95/100 {
					r.fail("background wait (deadline %v) took %v and %v of CPU: it spun", d, wall, cpu)
				}
				if n < 0 || n > r.capacity {
					r.fail("background wait returned n=%d", n)
				}
				r.checkErr("background wait", err, closed)
			}
		}()
		r.bg = res
		r.bgDeadline = d
	case opAwaitState:
		r.await([]int{ring.OffRxState, ring.OffTxState}[arg&1], uint32(arg>>1&3), time.Second)
	case opAwaitSleep:
		own := ring.OffRxState
		if !r.producer {
			own = ring.OffTxState
		}
		r.await(own, 1, 20*time.Millisecond)
	}
}

// await polls a state word of the fake peer's mapping until it holds v,
// for at most limit, and at most awaitBudget over the whole script.
func (r *scriptRun) await(off int, v uint32, limit time.Duration) {
	limit = min(limit, awaitBudget-r.awaited)
	start := time.Now()
	for time.Since(start) < limit && atomic.LoadUint32(r.p.state(off)) != v {
		runtime.Gosched()
	}
	r.awaited += time.Since(start)
}

// awaitBudget bounds the time one script spends in opAwaitState and
// opAwaitSleep, so that no input runs into the fuzzer's hang detection.
const awaitBudget = 2 * time.Second

// joinBackground collects a background wait (with the watchdog) and
// checks its outcome.
func (r *scriptRun) joinBackground() {
	r.t.Helper()
	if r.bg == nil {
		return
	}
	bg := r.bg
	r.bg = nil
	timer := time.NewTimer(r.bgDeadline + watchdogSlack)
	defer timer.Stop()
	select {
	case check := <-bg:
		check()
	case <-timer.C:
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		go r.closeReal()
		r.fail("background wait did not return within %v (blocked or spinning)\n%s", r.bgDeadline+watchdogSlack, buf)
	}
}

func (r *scriptRun) closeReal() error {
	if r.producer {
		return r.rx.Close()
	}
	return r.tx.Close()
}

// fdWarmup makes the runtime's lazily created fds (the poller's) exist
// before the first fd count.
var fdWarmup sync.Once

func runHostileScript(t *testing.T, script []byte) {
	if len(script) == 0 {
		return
	}
	fdWarmup.Do(func() { runScript(t, hostileSeeds[0], false); runScript(t, hostileSeeds[1], false) })
	runScript(t, script, true)
}

func runScript(t *testing.T, script []byte, checkFds bool) {
	r := &scriptRun{t: t, producer: script[0]&1 == 0, capacity: 1 << (script[0] >> 1 & 7)}
	before := fdCount(t)
	path := filepath.Join(t.TempDir(), "h.sock")
	deadline := time.Now().Add(10 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if r.producer {
		l, err := fdring.Listen(path)
		if err != nil {
			t.Fatal(err)
		}
		type res struct {
			p   *fakePeer
			err error
		}
		pc := make(chan res, 1)
		go func() { p, err := dialFake(path, r.capacity); pc <- res{p, err} }()
		r.rx, err = fdring.AcceptContext[uint64](ctx, l)
		l.Close()
		pr := <-pc
		if err != nil || pr.err != nil {
			t.Fatalf("handshake: accept %v, fake producer %v", err, pr.err)
		}
		r.p = pr.p
	} else {
		ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
		if err != nil {
			t.Fatal(err)
		}
		type res struct {
			tx  *fdring.Sender[uint64]
			err error
		}
		tc := make(chan res, 1)
		go func() { tx, err := fdring.DialContext[uint64](ctx, path, r.capacity); tc <- res{tx, err} }()
		r.p, err = acceptFake(ln, deadline)
		ln.Close()
		tr := <-tc
		if err != nil || tr.err != nil {
			t.Fatalf("handshake: fake consumer %v, dial %v", err, tr.err)
		}
		r.tx = tr.tx
	}
	r.log = append(r.log, fmt.Sprintf("real %s, capacity %d", map[bool]string{true: "Receiver", false: "Sender"}[r.producer], r.capacity))
	if os.Getenv("FDRING_SCRIPT_LOG") != "" {
		defer func() { t.Logf("script:\n  %s", strings.Join(r.log, "\n  ")) }()
	}
	ops := script[1:]
	for i := 0; i+1 < len(ops) && i/2 < maxScriptOps; i += 2 {
		r.step(ops[i], ops[i+1])
	}
	r.log = append(r.log, "final Close")
	err := r.call("final Close", 3*time.Second, r.closeReal) // may overlap a background wait
	r.joinBackground()
	if !r.closed {
		r.check("final Close", 0, err)
	}
	r.p.release()
	if after := fdCount(t); checkFds && after != before {
		r.fail("fds: %d before, %d after the script (leak)", before, after)
	}
}

// hostileSeeds start the fuzzer off on the interesting states. Inputs
// that found bugs live in testdata/fuzz/FuzzHostileScript.
var hostileSeeds = [][]byte{
	// Honest exchanges, each direction.
	{0 | 3<<1, opFakeStep, 5, opRealNB, 3, opRealWait, 9, opFakeStep, 200, opRealWait, 0, opFakeClose, 0, opRealWait, 1, opRealWait, 1},
	{1 | 2<<1, opRealNB, 3, opRealWait, 9, opFakeStep, 2, opRealWait, 0, opRealReserve, 3, opFakeClose, 0, opRealWait, 1},
	// rxState and txState outside the protocol while the real side waits.
	{0 | 2<<1, opRealWait, 2, opWriteState, 5 << 1, opFakeSignal, 0, opRealWait, 3, opRealNB, 0},
	{0 | 2<<1, opWriteState, 5<<1 | 1, opFakeSignal, 0, opRealWait, 3, opRealWait, 3},
	{1 | 2<<1, opRealNB, 255, opRealWait, 2, opWriteState, 5<<1 | 1, opFakeSignal, 0, opRealWait, 3, opRealWait, 3},
	{1 | 2<<1, opRealNB, 255, opWriteState, 5 << 1, opRealNB, 0, opRealWait, 3},
	// Indices out of range.
	{0 | 4<<1, opFakeStep, 3, opWrite, 0 | 8<<3, opRealNB, 0, opRealWait, 1},
	{1 | 4<<1, opRealNB, 7, opWrite, 1 | 11<<3, opRealNB, 0, opRealWait, 1},
	// Floods, zero-length messages, shutdowns, O_NONBLOCK, death.
	{0 | 1<<1, opNonblock, 0, opFlood, 0 | 15<<2, opFlood, 1 | 15<<2, opRealWait, 3, opDrain, 2, opRealWait, 3, opDie, 0, opRealWait, 3},
	{1 | 1<<1, opNonblock, 0, opRealNB, 9, opFlood, 2 | 15<<2, opFlood, 0 | 15<<2, opRealWait, 3, opDie, 0, opRealWait, 3},
	{0 | 2<<1, opZeroMsg, 0, opRealWait, 3, opRealNB, 0},
	{1 | 2<<1, opRealNB, 255, opZeroMsg, 2, opRealWait, 3, opRealNB, 0},
	{0 | 2<<1, opShutdown, 2 | 1<<2, opRealNB, 0, opRealWait, 3, opShutdown, 0 | 1<<2, opRealWait, 3},
	{1 | 2<<1, opShutdown, 0 | 1<<2, opRealNB, 255, opRealWait, 3},
	// Fds in flight, duplicates, death.
	{0 | 2<<1, opRights, 0, opDie, 0, opRealNB, 0, opRealWait, 3},
	{1 | 2<<1, opRights, 2, opDie, 0, opRealNB, 1, opRealWait, 3},
	{0 | 2<<1, opDup, 0, opDie, 0, opRealWait, 3},
	// Attacks while the real side sleeps; Close during a wait.
	{0 | 2<<1, opRealWaitBG, 3, opAwaitSleep, 0, opWriteState, 5 << 1, opFakeSignal, 0, opRealNB, 0},
	{0 | 2<<1, opRealWaitBG, 3, opAwaitSleep, 0, opWriteState, 5<<1 | 1, opRealNB, 0, opRealWait, 3},
	{1 | 2<<1, opRealNB, 255, opRealWaitBG, 3, opAwaitSleep, 0, opWriteState, 5<<1 | 1, opFakeSignal, 0, opRealNB, 0},
	{1 | 2<<1, opRealNB, 255, opRealWaitBG, 3, opAwaitSleep, 0, opRealClose, 0, opRealNB, 0},
	{0 | 2<<1, opRealWaitBG, 3, opAwaitSleep, 0, opDie, 0, opRealNB, 0},
	{0 | 2<<1, opRealWaitBG, 3, opAwaitSleep, 0, opNonblock, 0, opFlood, 2 | 15<<2, opRealClose, 0},
	{1 | 2<<1, opRealNB, 255, opRealWaitBG, 3, opAwaitSleep, 0, opZeroMsg, 2, opFakeStep, 1, opRealWait, 3},
	// Close from inside a callback.
	{0 | 3<<1, opFakeStep, 6, opRealCloseInCB, 0, opRealNB, 0, opRealWait, 1},
	{1 | 3<<1, opRealCloseInCB, 0, opRealNB, 0, opRealWait, 1},
}
