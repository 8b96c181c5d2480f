package fdring_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/handlers"
	"github.com/fdring/fdring/loop"
)

// Lifecycle tests: "Close from anywhere".
//
// The contract. Close may be called from any goroutine at any time. No method
// of a side (Sender, Receiver, Writer, Reader), called in any order and from
// any goroutine, during or after Close, touches unmapped memory or panics.
// After Close every method returns an error wrapping ErrClosed, except: Stats
// returns the last counters, Cap the capacity, Close nil (idempotent), Fd -1,
// Ready and Arm true. Commit and Release after Close return ErrClosed and
// publish nothing. A blocked SendWait, RecvWait, Wait, Writer.Write,
// Writer.ReadFrom, Reader.Read or Reader.WriteTo returns promptly with
// ErrClosed when its own side is closed from another goroutine. The peer of a
// closed side: a Receiver whose Sender closed drains, then gets io.EOF; a
// Sender whose Receiver closed gets ErrClosed, at the latest on the call after
// the one that saw it.
//
// Every test runs once per kind of channel: in-process on the heap with
// eventfds ("heap"), in-process with pipes ("pipe"), and Dial/Accept in one
// process ("dial": each side has its own mapping of the memfd, which its Close
// unmaps). Each kind's subtest runs in a child process, the test binary
// re-executed to run just that subtest, so that a touch of unmapped memory
// (SIGSEGV, "fatal error: fault") or a panic fails that subtest with the
// child's output instead of killing the whole test binary. Inside the child,
// the goroutines the tests start run with debug.SetPanicOnFault, so a fault
// in a test's own call is reported with the call that made it. To run one
// kind in-process (under a debugger, say), set the child's variable by hand:
//
//	FDRING_LIFECYCLE_CHILD=TestLifecycleAfterClose/dial go test -run '^TestLifecycleAfterClose$/^dial$' -v
//
// FDRING_LIFECYCLE_VERBOSE=1 shows a failing child's whole output.
//
// Ready updates the side's private cache of the peer's index (ring.Receiver
// and ring.Sender are one-goroutine objects), so Ready is only ever called by
// the goroutine that owns the side at the time; Stats and Close come from
// anywhere.

const (
	// lcChildEnv, in a child process, names the one subtest it runs.
	lcChildEnv = "FDRING_LIFECYCLE_CHILD"
	// lcVerboseEnv, when set, shows a failing child's whole output instead
	// of an excerpt.
	lcVerboseEnv = "FDRING_LIFECYCLE_VERBOSE"

	lcIters        = 200               // iterations of a concurrency test per channel kind
	lcBudget       = 5 * time.Second   // per variant: the time its iterations may take
	lcPrompt       = 5 * time.Second   // "promptly": no call blocks longer than this
	lcChildTimeout = 150 * time.Second // a child process's -test.timeout
)

// ---- channel kinds and child processes ----

type lcKind struct {
	name string
	dial bool // Dial/Accept through a unix socket instead of New
	opts []fdring.Option
}

var lcKinds = []lcKind{
	{name: "heap"},
	{name: "pipe", opts: []fdring.Option{fdring.WithNotifier(fdring.Pipe)}},
	{name: "dial", dial: true},
}

// lcFactory makes channels of one kind; for "dial" it holds the Listener.
type lcFactory struct {
	kind lcKind
	ln   *fdring.Listener
}

// lcForKinds runs body as one subtest per channel kind, each in its own child
// process.
func lcForKinds(t *testing.T, body func(t *testing.T, f *lcFactory)) {
	for _, k := range lcKinds {
		t.Run(k.name, func(t *testing.T) {
			lcIsolated(t, func(t *testing.T) {
				f := &lcFactory{kind: k}
				if k.dial {
					if runtime.GOOS != "linux" {
						t.Skip("Dial and Accept need memfd (Linux)")
					}
					f.ln = lcListen(t)
				}
				body(t, f)
			})
		})
	}
}

func lcListen(t *testing.T) *fdring.Listener {
	t.Helper()
	dir := t.TempDir()
	if len(dir) > 90 { // a unix socket path has room for about 100 bytes
		var err error
		if dir, err = os.MkdirTemp("", "fdrlc"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	l, err := fdring.Listen(filepath.Join(dir, "lc.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// lcChan returns both sides of a new channel of f's kind. t's cleanup closes
// both (Close is idempotent).
func lcChan[T any](t *testing.T, f *lcFactory, capacity int, spin time.Duration) (*fdring.Sender[T], *fdring.Receiver[T]) {
	t.Helper()
	var (
		tx  *fdring.Sender[T]
		rx  *fdring.Receiver[T]
		err error
	)
	if !f.kind.dial {
		tx, rx, err = fdring.New[T](capacity, append(slices.Clone(f.kind.opts), fdring.WithSpin(spin))...)
		if err != nil {
			t.Fatal(err)
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 2*lcPrompt)
		defer cancel()
		type dialed struct {
			tx  *fdring.Sender[T]
			err error
		}
		dc := make(chan dialed, 1)
		go func() {
			tx, err := fdring.DialContext[T](ctx, f.ln.Path(), capacity, fdring.WithSpin(spin))
			dc <- dialed{tx, err}
		}()
		rx, err = fdring.AcceptContext[T](ctx, f.ln)
		d := <-dc
		if err != nil || d.err != nil {
			if d.tx != nil {
				d.tx.Close()
			}
			if rx != nil {
				rx.Close()
			}
			t.Fatalf("dial: %v; accept: %v", d.err, err)
		}
		tx = d.tx
	}
	t.Cleanup(func() { tx.Close(); rx.Close() })
	return tx, rx
}

// lcIsolated runs body in a child process: the test binary, re-executed to
// run only t (lcChildEnv tells the child it is the one to run body). The
// child's failure, crash or hang fails t with an excerpt of its output.
func lcIsolated(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	if name := os.Getenv(lcChildEnv); name != "" {
		if name != t.Name() {
			t.Skipf("this child process runs %s only", name)
		}
		body(t)
		return
	}
	elems := strings.Split(t.Name(), "/")
	for i, e := range elems {
		elems[i] = "^" + regexp.QuoteMeta(e) + "$"
	}
	args := []string{"-test.run=" + strings.Join(elems, "/"), "-test.count=1", "-test.v", "-test.timeout=" + lcChildTimeout.String()}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), lcChildTimeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	// The race detector sleeps a second before a clean exit unless told not to.
	cmd.Env = append(os.Environ(), lcChildEnv+"="+t.Name(), "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	text := string(out)
	switch {
	case err == nil && strings.Contains(text, "--- PASS: "+t.Name()+" "):
		return
	case err == nil && strings.Contains(text, "--- SKIP: "+t.Name()+" "):
		t.Skipf("skipped in the child:\n%s", lcExcerpt(text))
	case err == nil:
		t.Fatalf("the child process did not run %s:\n%s", t.Name(), lcExcerpt(text))
	}
	t.Fatalf("child process (%s -test.run=%s): %v\n%s", filepath.Base(os.Args[0]), strings.Join(elems, "/"), err, lcExcerpt(text))
}

// lcExcerpt shortens a child's output to what explains its failure: the
// failure reports, each under the name of its subtest, and the first lines
// of a crash, race report or timeout.
func lcExcerpt(out string) string {
	if os.Getenv(lcVerboseEnv) != "" {
		return out
	}
	const maxLines, crashLines = 120, 45
	crash := regexp.MustCompile(`^(panic: |fatal error: |unexpected fault address|WARNING: DATA RACE|SIGSEGV|SIGBUS|\[signal )`)
	var keep []string
	lines := strings.Split(out, "\n")
	cur, shown, rest := "", "", 0
	for i, l := range lines {
		if strings.HasPrefix(l, "=== ") { // === RUN, === NAME, === CONT: whose output follows
			if f := strings.Fields(l); len(f) >= 3 {
				cur = f[2]
			}
			continue
		}
		if trimmed := strings.TrimSpace(l); trimmed == "" || trimmed == "FAIL" || trimmed == "PASS" || strings.HasPrefix(trimmed, "--- ") {
			continue
		}
		if crash.MatchString(l) {
			if cur != "" {
				keep = append(keep, "(crashed in "+cur+")")
			}
			end := min(len(lines), i+crashLines)
			keep = append(keep, lines[i:end]...)
			rest = len(lines) - end
			break
		}
		if len(keep) >= maxLines {
			rest = len(lines) - i
			break
		}
		if cur != shown {
			keep = append(keep, cur+":")
			shown = cur
		}
		keep = append(keep, l)
	}
	s := "\t" + strings.Join(keep, "\n\t")
	if rest > 0 {
		s += fmt.Sprintf("\n\t[... %d more lines; %s=1 shows everything]", rest, lcVerboseEnv)
	}
	return s
}

// ---- goroutines, faults and deadlines ----

// lcGuard runs f with faults turned into panics (debug.SetPanicOnFault) and
// returns a panic as an error, with the frames where it happened.
func lcGuard(f func()) (perr error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		what := fmt.Sprint("panic: ", r)
		if fault, ok := r.(interface{ Addr() uintptr }); ok {
			what = fmt.Sprintf("fault at %#x (a touch of unmapped memory): %v", fault.Addr(), r)
		}
		// The frames below the panic, without the recovery's own.
		stack := strings.Split(strings.TrimSpace(string(debug.Stack())), "\n")
		for i, l := range stack {
			if strings.HasPrefix(l, "panic(") {
				stack = stack[min(i+2, len(stack)):]
				break
			}
		}
		perr = fmt.Errorf("%s\n\t%s", what, strings.Join(stack[:min(len(stack), 10)], "\n\t"))
	}()
	f()
	return nil
}

// lcGuardT runs f under lcGuard on the test goroutine and fails t on a panic.
func lcGuardT(t *testing.T, f func()) {
	t.Helper()
	if err := lcGuard(f); err != nil {
		t.Fatal(err)
	}
}

type lcOut[T any] struct {
	v    T
	perr error
}

// lcGo runs f on a new goroutine under lcGuard; lcAwait collects the result.
func lcGo[T any](f func() T) <-chan lcOut[T] {
	c := make(chan lcOut[T], 1)
	go func() {
		var o lcOut[T]
		o.perr = lcGuard(func() { o.v = f() })
		c <- o
	}()
	return c
}

// lcAwait waits at most lcPrompt for an lcGo goroutine and returns its
// result. A panic (a fault included) or a goroutine still running fails t,
// the latter with the stacks of the test's goroutines.
func lcAwait[T any](t *testing.T, c <-chan lcOut[T], what string) T {
	t.Helper()
	timer := time.NewTimer(lcPrompt)
	defer timer.Stop()
	select {
	case o := <-c:
		if o.perr != nil {
			t.Fatalf("%s: %v", what, o.perr)
		}
		return o.v
	case <-timer.C:
		t.Fatalf("%s: still blocked after %v; the test's goroutines:\n%s", what, lcPrompt, lcStacks())
	}
	panic("unreachable")
}

// lcStacks returns the stacks of the goroutines the test started (lcGo).
func lcStacks() string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var keep []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "fdring_test.lcGo[") {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, "\n\n")
}

// lcIterate runs iter lcIters times or until lcBudget is spent, and stops at
// the first iteration that failed.
func lcIterate(t *testing.T, iters int, iter func(i int)) {
	t.Helper()
	if testing.Short() {
		iters = max(1, iters/10)
	}
	deadline := time.Now().Add(lcBudget)
	for i := range iters {
		iter(i)
		if t.Failed() {
			t.Logf("failed in iteration %d", i)
			return
		}
		if time.Now().After(deadline) {
			t.Logf("time budget spent after %d of %d iterations", i+1, iters)
			return
		}
	}
}

// lcWindow places a Close inside a window of the owner's call: the owner
// calls enter inside the window and returns from it once the closer is done.
type lcWindow struct {
	in     chan struct{}
	closed chan struct{}
}

func lcNewWindow() *lcWindow {
	return &lcWindow{in: make(chan struct{}, 1), closed: make(chan struct{})}
}

func (w *lcWindow) enter() {
	w.in <- struct{}{}
	<-w.closed
}

// lcCloseInWindow waits until the owner is inside its window, runs the
// closers (on this goroutine: a second goroutine to the owner), then lets
// the owner go on.
func lcCloseInWindow[T any](t *testing.T, w *lcWindow, owner <-chan lcOut[T], closers ...func() error) {
	t.Helper()
	timer := time.NewTimer(lcPrompt)
	defer timer.Stop()
	select {
	case <-w.in:
	case o := <-owner:
		t.Fatalf("the owner returned (%+v, %v) without entering its window", o.v, o.perr)
	case <-timer.C:
		t.Fatalf("the owner did not enter its window within %v:\n%s", lcPrompt, lcStacks())
	}
	for _, c := range closers {
		if c == nil {
			continue
		}
		if err := lcGuard(func() {
			if err := c(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	close(w.closed)
}

func lcCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 4*lcPrompt)
}

// ---- small helpers ----

type lcRet struct {
	n   int64
	err error
}

func lcIsClosed(err error) bool { return errors.Is(err, fdring.ErrClosed) }

// lcSend sends seq(from), ..., seq(from+k-1) with Send; the ring has room.
func lcSend(t *testing.T, tx *fdring.Sender[uint64], from, k int) {
	t.Helper()
	next := from
	for next < from+k {
		n, err := tx.Send(func(f []uint64) int {
			m := min(len(f), from+k-next)
			for j := range m {
				f[j] = seq(uint64(next + j))
			}
			return m
		})
		if err != nil || n == 0 {
			t.Fatalf("preloading item %d: Send = %d, %v", next, n, err)
		}
		next += n
	}
}

// lcFillFull sends until a byte ring is full.
func lcFillFull(t *testing.T, tx *fdring.Sender[byte]) {
	t.Helper()
	for {
		n, err := tx.Send(func(f []byte) int { return len(f) })
		if err != nil {
			t.Fatalf("filling: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

// lcDrain receives until an error, on its own goroutine, checking that the
// items are seq(from), seq(from+1), ...; it returns the count and the error.
func lcDrain(t *testing.T, rx *fdring.Receiver[uint64], from int) (int, error) {
	t.Helper()
	type res struct {
		n   int
		err error
		bad string
	}
	r := lcAwait(t, lcGo(func() res {
		ctx, cancel := lcCtx()
		defer cancel()
		got, bad := 0, ""
		for {
			_, err := rx.RecvWait(ctx, func(d []uint64) int {
				for j, v := range d {
					if want := seq(uint64(from + got + j)); v != want && bad == "" {
						bad = fmt.Sprintf("item %d = %#x, want %#x", from+got+j, v, want)
					}
				}
				got += len(d)
				return len(d)
			})
			if err != nil {
				return res{got, err, bad}
			}
		}
	}), "draining the receiver")
	if r.bad != "" {
		t.Error(r.bad)
	}
	return r.n, r.err
}

// lcSink keeps lcTouch's reads from being optimized away.
var lcSink atomic.Uint64

// lcTouch reads every element of d.
func lcTouch[T uint64 | byte](d []T) (sum uint64) {
	for _, v := range d {
		sum += uint64(v)
	}
	lcSink.Add(sum)
	return sum
}

// lcSeesClosed calls op at most twice: a side whose peer closed must report
// ErrClosed at the latest on the call after the one that saw the close.
func lcSeesClosed(t *testing.T, what string, op func() error) {
	t.Helper()
	err := op()
	if err == nil {
		err = op()
	}
	if !lcIsClosed(err) {
		t.Errorf("%s: %v, want an error wrapping ErrClosed by the second call", what, err)
	}
}

func lcWantClosed(t *testing.T, what string, n int64, err error) {
	t.Helper()
	if n != 0 || !lcIsClosed(err) {
		t.Errorf("%s after Close = %d, %v; want 0 and an error wrapping ErrClosed", what, n, err)
	}
}

// lcBlocking runs call on its own goroutine with a context and fails t
// unless it returns within lcPrompt.
func lcBlocking(t *testing.T, what string, call func(ctx context.Context) lcRet) lcRet {
	t.Helper()
	return lcAwait(t, lcGo(func() lcRet {
		ctx, cancel := lcCtx()
		defer cancel()
		return call(ctx)
	}), what)
}

// lcPattern is the byte at offset off of the byte streams.
func lcPattern(off int64) byte { return byte(off ^ off>>8 ^ off>>16) }

// ---- 1. every method after Close ----

// lcCase is one method's after-Close check.
type lcCase struct {
	method string
	run    func(t *testing.T)
}

// lcRunCases checks that cases cover every exported method of v's type (and
// no method it lacks), then runs each case as a subtest, in order.
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
		t.Run(c.method, func(t *testing.T) { lcGuardT(t, func() { c.run(t) }) })
	}
}

// lcSideCases are the cases Sender and Receiver share.
type lcSide interface {
	Close() error
	Fd() int
	Ready() bool
	Arm() bool
	WaitClear() error
	EdgeTriggered() bool
	Cap() int
	Stats() fdring.Stats
	SetWake(func())
}

func lcSideCases(s lcSide, capacity int, before fdring.Stats) []lcCase {
	return []lcCase{
		{"SetWake", func(t *testing.T) {
			// A loop may still install or take back its wake function.
			s.SetWake(func() {})
			s.SetWake(nil)
		}},
		{"Cap", func(t *testing.T) {
			if c := s.Cap(); c != capacity {
				t.Errorf("Cap after Close = %d, want %d", c, capacity)
			}
		}},
		{"Stats", func(t *testing.T) {
			st := s.Stats()
			if st.Sent != before.Sent || st.Received != before.Received || st.Signals < before.Signals || st.Waits < before.Waits {
				t.Errorf("Stats after Close = %+v, want the last counters %+v", st, before)
			}
		}},
		{"Fd", func(t *testing.T) {
			if fd := s.Fd(); fd != -1 {
				t.Errorf("Fd after Close = %d, want -1", fd)
			}
		}},
		{"Ready", func(t *testing.T) {
			if !s.Ready() {
				t.Error("Ready after Close = false, want true")
			}
		}},
		{"Arm", func(t *testing.T) {
			if !s.Arm() {
				t.Error("Arm after Close = false, want true")
			}
		}},
		{"EdgeTriggered", func(t *testing.T) {
			s.EdgeTriggered() // any answer; no panic, no fault
		}},
		{"WaitClear", func(t *testing.T) {
			if err := s.WaitClear(); !lcIsClosed(err) {
				t.Errorf("WaitClear after Close = %v, want an error wrapping ErrClosed", err)
			}
		}},
		{"Close", func(t *testing.T) {
			if err := s.Close(); err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
		}},
	}
}

func lcNoFill(t *testing.T) func([]uint64) int {
	return func([]uint64) int { t.Error("fill called after Close"); return 0 }
}

func lcNoRead(t *testing.T) func([]uint64) int {
	return func([]uint64) int { t.Error("read called after Close"); return 0 }
}

// TestLifecycleAfterClose calls every exported method of Sender, Receiver,
// Writer and Reader after Close, in two ring states each, and checks the
// results the contract names, then what the open peer sees.
func TestLifecycleAfterClose(t *testing.T) {
	lcForKinds(t, func(t *testing.T, f *lcFactory) {
		t.Run("Sender", func(t *testing.T) {
			t.Run("room", func(t *testing.T) { lcSenderAfterClose(t, f, false) })
			t.Run("full", func(t *testing.T) { lcSenderAfterClose(t, f, true) })
		})
		t.Run("Receiver", func(t *testing.T) {
			t.Run("data", func(t *testing.T) { lcReceiverAfterClose(t, f, true) })
			t.Run("empty", func(t *testing.T) { lcReceiverAfterClose(t, f, false) })
		})
		t.Run("Writer", func(t *testing.T) { lcWriterAfterClose(t, f) })
		t.Run("Reader", func(t *testing.T) { lcReaderAfterClose(t, f) })
	})
}

func lcSenderAfterClose(t *testing.T, f *lcFactory, full bool) {
	const capacity = 16
	tx, rx := lcChan[uint64](t, f, capacity, fdring.DefaultSpin)
	sent := 3
	if full {
		sent = capacity
	}
	lcSend(t, tx, 0, sent)
	// The slice a Commit after Close refers to (nil when full).
	free, err := tx.Reserve()
	if err != nil || (len(free) == 0) != full {
		t.Fatalf("Reserve before Close = %d elements, %v", len(free), err)
	}
	before := tx.Stats()
	if err := tx.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	cases := append(lcSideCases(tx, capacity, before),
		lcCase{"Send", func(t *testing.T) {
			n, err := tx.Send(lcNoFill(t))
			lcWantClosed(t, "Send", int64(n), err)
		}},
		lcCase{"SendWait", func(t *testing.T) {
			r := lcBlocking(t, "SendWait after Close", func(ctx context.Context) lcRet {
				n, err := tx.SendWait(ctx, lcNoFill(t))
				return lcRet{int64(n), err}
			})
			lcWantClosed(t, "SendWait", r.n, r.err)
		}},
		lcCase{"Reserve", func(t *testing.T) {
			free, err := tx.Reserve()
			lcWantClosed(t, "Reserve", int64(len(free)), err)
		}},
		lcCase{"Put", func(t *testing.T) {
			r := lcBlocking(t, "Put after Close", func(ctx context.Context) lcRet { return lcRet{0, tx.Put(ctx, 7)} })
			lcWantClosed(t, "Put", r.n, r.err)
		}},
		lcCase{"TryPut", func(t *testing.T) {
			ok, err := tx.TryPut(7)
			n := int64(0)
			if ok {
				n = 1
			}
			lcWantClosed(t, "TryPut", n, err)
		}},
		lcCase{"Wait", func(t *testing.T) {
			r := lcBlocking(t, "Wait after Close", func(ctx context.Context) lcRet { return lcRet{0, tx.Wait(ctx)} })
			lcWantClosed(t, "Wait", 0, r.err)
		}},
		lcCase{"Commit", func(t *testing.T) {
			if len(free) > 0 {
				if err := tx.Commit(len(free)); !lcIsClosed(err) {
					t.Errorf("Commit(%d) of a slice reserved before Close = %v, want an error wrapping ErrClosed", len(free), err)
				}
			}
			if err := tx.Commit(0); !lcIsClosed(err) {
				t.Errorf("Commit(0) after Close = %v, want an error wrapping ErrClosed", err)
			}
		}},
	)
	lcRunCases(t, tx, cases)

	t.Run("peer", func(t *testing.T) {
		// Everything sent before Close, nothing of the Commit after it,
		// then io.EOF, which stays.
		n, err := lcDrain(t, rx, 0)
		if n != sent || err != io.EOF {
			t.Errorf("the receiver got %d items, then %v; want the %d sent before Close, then io.EOF", n, err, sent)
		}
		if n, err := rx.Recv(lcNoRead(t)); n != 0 || err != io.EOF {
			t.Errorf("Recv after the end = %d, %v; want io.EOF", n, err)
		}
		if d, err := rx.Peek(); len(d) != 0 || err != io.EOF {
			t.Errorf("Peek after the end = %d elements, %v; want io.EOF", len(d), err)
		}
		if !rx.Ready() {
			t.Error("Ready after the end = false")
		}
		r := lcBlocking(t, "the receiver's Wait after the end", func(ctx context.Context) lcRet { return lcRet{0, rx.Wait(ctx)} })
		if r.err != io.EOF {
			t.Errorf("Wait after the end = %v, want io.EOF", r.err)
		}
		if err := rx.Close(); err != nil {
			t.Errorf("the receiver's Close = %v", err)
		}
	})
}

func lcReceiverAfterClose(t *testing.T, f *lcFactory, data bool) {
	const capacity = 16
	tx, rx := lcChan[uint64](t, f, capacity, fdring.DefaultSpin)
	sent, consumed := 5, 2
	if !data {
		consumed = sent
	}
	lcSend(t, tx, 0, sent)
	if n, err := rx.Recv(func(d []uint64) int { return min(len(d), consumed) }); n != consumed || err != nil {
		t.Fatalf("Recv before Close = %d, %v", n, err)
	}
	// The slice a Release after Close refers to (nil when empty).
	peeked, err := rx.Peek()
	if err != nil || len(peeked) != sent-consumed {
		t.Fatalf("Peek before Close = %d elements, %v", len(peeked), err)
	}
	before := rx.Stats()
	if err := rx.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	cases := append(lcSideCases(rx, capacity, before),
		lcCase{"Recv", func(t *testing.T) {
			n, err := rx.Recv(lcNoRead(t))
			lcWantClosed(t, "Recv", int64(n), err)
		}},
		lcCase{"RecvWait", func(t *testing.T) {
			r := lcBlocking(t, "RecvWait after Close", func(ctx context.Context) lcRet {
				n, err := rx.RecvWait(ctx, lcNoRead(t))
				return lcRet{int64(n), err}
			})
			lcWantClosed(t, "RecvWait", r.n, r.err)
		}},
		lcCase{"Peek", func(t *testing.T) {
			d, err := rx.Peek()
			lcWantClosed(t, "Peek", int64(len(d)), err)
		}},
		lcCase{"Get", func(t *testing.T) {
			r := lcBlocking(t, "Get after Close", func(ctx context.Context) lcRet {
				v, err := rx.Get(ctx)
				return lcRet{int64(v), err}
			})
			lcWantClosed(t, "Get", r.n, r.err)
		}},
		lcCase{"TryGet", func(t *testing.T) {
			v, ok, err := rx.TryGet()
			if ok {
				t.Errorf("TryGet after Close took element %d", v)
			}
			lcWantClosed(t, "TryGet", int64(v), err)
		}},
		lcCase{"Wait", func(t *testing.T) {
			r := lcBlocking(t, "Wait after Close", func(ctx context.Context) lcRet { return lcRet{0, rx.Wait(ctx)} })
			lcWantClosed(t, "Wait", 0, r.err)
		}},
		lcCase{"Release", func(t *testing.T) {
			if len(peeked) > 0 {
				if err := rx.Release(len(peeked)); !lcIsClosed(err) {
					t.Errorf("Release(%d) of a slice peeked before Close = %v, want an error wrapping ErrClosed", len(peeked), err)
				}
			}
			if err := rx.Release(0); !lcIsClosed(err) {
				t.Errorf("Release(0) after Close = %v, want an error wrapping ErrClosed", err)
			}
		}},
	)
	lcRunCases(t, rx, cases)

	t.Run("peer", func(t *testing.T) {
		if got := tx.Stats().Received; got != uint64(consumed) {
			t.Errorf("the sender sees %d elements released, want the %d released before Close", got, consumed)
		}
		lcSeesClosed(t, "Send to a closed receiver", func() error {
			_, err := tx.Send(func(f []uint64) int { f[0] = 1; return 1 })
			return err
		})
		r := lcBlocking(t, "SendWait to a closed receiver", func(ctx context.Context) lcRet {
			n, err := tx.SendWait(ctx, func(f []uint64) int { f[0] = 1; return 1 })
			return lcRet{int64(n), err}
		})
		lcWantClosed(t, "SendWait to a closed receiver", r.n, r.err)
		if free, err := tx.Reserve(); len(free) != 0 || !lcIsClosed(err) {
			t.Errorf("Reserve to a closed receiver = %d elements, %v", len(free), err)
		}
		r = lcBlocking(t, "the sender's Wait", func(ctx context.Context) lcRet { return lcRet{0, tx.Wait(ctx)} })
		if !lcIsClosed(r.err) {
			t.Errorf("the sender's Wait = %v, want ErrClosed", r.err)
		}
		if !tx.Ready() || !tx.Arm() {
			t.Error("Ready or Arm of a sender whose receiver closed = false")
		}
		if err := tx.Close(); err != nil {
			t.Errorf("the sender's Close = %v", err)
		}
	})
}

// lcNoReader fails the test if ReadFrom reads it.
type lcNoReader struct{ t *testing.T }

func (r lcNoReader) Read(p []byte) (int, error) {
	r.t.Error("ReadFrom read its source after Close")
	return len(p), nil
}

// lcNoWriter fails the test if WriteTo writes to it.
type lcNoWriter struct{ t *testing.T }

func (w lcNoWriter) Write(p []byte) (int, error) {
	w.t.Error("WriteTo wrote to its destination after Close")
	return len(p), nil
}

func lcWriterAfterClose(t *testing.T, f *lcFactory) {
	tx, rx := lcChan[byte](t, f, 64, fdring.DefaultSpin)
	w := fdring.NewWriter(tx)
	if n, err := w.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("Write before Close = %d, %v", n, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	lcRunCases(t, w, []lcCase{
		{"WithContext", func(t *testing.T) {
			ctx, cancel := lcCtx()
			defer cancel()
			n, err := w.WithContext(ctx).Write([]byte("x"))
			lcWantClosed(t, "WithContext(ctx).Write", int64(n), err)
		}},
		{"Write", func(t *testing.T) {
			r := lcBlocking(t, "Write after Close", func(context.Context) lcRet {
				n, err := w.Write([]byte("more"))
				return lcRet{int64(n), err}
			})
			lcWantClosed(t, "Write", r.n, r.err)
			n, err := w.Write(nil)
			lcWantClosed(t, "Write(nil)", int64(n), err)
		}},
		{"ReadFrom", func(t *testing.T) {
			r := lcBlocking(t, "ReadFrom after Close", func(context.Context) lcRet {
				n, err := w.ReadFrom(lcNoReader{t})
				return lcRet{n, err}
			})
			lcWantClosed(t, "ReadFrom", r.n, r.err)
		}},
		{"Close", func(t *testing.T) {
			if err := w.Close(); err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
		}},
	})
	t.Run("peer", func(t *testing.T) {
		r := lcAwait(t, lcGo(func() string {
			ctx, cancel := lcCtx()
			defer cancel()
			b, err := io.ReadAll(fdring.NewReader(rx).WithContext(ctx))
			return fmt.Sprintf("%q, %v", b, err)
		}), "reading what the closed Writer wrote")
		if want := fmt.Sprintf("%q, %v", "hello", nil); r != want {
			t.Errorf("the reader got %s, want %s", r, want)
		}
	})
}

func lcReaderAfterClose(t *testing.T, f *lcFactory) {
	tx, rx := lcChan[byte](t, f, 64, fdring.DefaultSpin)
	w := fdring.NewWriter(tx)
	if _, err := w.Write([]byte("hello world")); err != nil {
		t.Fatal(err)
	}
	rd := fdring.NewReader(rx)
	buf := make([]byte, 5)
	if _, err := io.ReadFull(rd, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("Read before Close = %q, %v", buf, err)
	}
	if err := rd.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	lcRunCases(t, rd, []lcCase{
		{"WithContext", func(t *testing.T) {
			ctx, cancel := lcCtx()
			defer cancel()
			n, err := rd.WithContext(ctx).Read(buf)
			lcWantClosed(t, "WithContext(ctx).Read", int64(n), err)
		}},
		{"Read", func(t *testing.T) {
			r := lcBlocking(t, "Read after Close", func(context.Context) lcRet {
				n, err := rd.Read(buf)
				return lcRet{int64(n), err}
			})
			lcWantClosed(t, "Read", r.n, r.err)
			n, err := rd.Read(nil)
			lcWantClosed(t, "Read(nil)", int64(n), err)
		}},
		{"WriteTo", func(t *testing.T) {
			r := lcBlocking(t, "WriteTo after Close", func(context.Context) lcRet {
				n, err := rd.WriteTo(lcNoWriter{t})
				return lcRet{n, err}
			})
			lcWantClosed(t, "WriteTo", r.n, r.err)
		}},
		{"Close", func(t *testing.T) {
			if err := rd.Close(); err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
		}},
	})
	t.Run("peer", func(t *testing.T) {
		if got := tx.Stats().Received; got != 5 {
			t.Errorf("the sender sees %d bytes released, want the 5 read before Close", got)
		}
		r := lcBlocking(t, "Write to a closed Reader", func(ctx context.Context) lcRet {
			w := w.WithContext(ctx)
			if _, err := w.Write([]byte("x")); err != nil {
				return lcRet{0, err}
			}
			n, err := w.Write([]byte("y"))
			return lcRet{int64(n), err}
		})
		if !lcIsClosed(r.err) {
			t.Errorf("Write to a closed Reader = %v, want ErrClosed by the second call", r.err)
		}
	})
}

// ---- 2. Close from another goroutine, inside the owner's window ----

// TestLifecycleCloseInCallback closes a side while its owner is inside the
// callback of Recv, RecvWait, Send or SendWait; the callback then touches
// its whole slice. The call returns its count and nil, or ErrClosed; what
// the peer sees agrees with it.
func TestLifecycleCloseInCallback(t *testing.T) {
	lcForKinds(t, func(t *testing.T, f *lcFactory) {
		variants := []struct {
			name       string
			recv, wait bool
		}{
			{"Recv", true, false},
			{"RecvWait", true, true},
			{"Send", false, false},
			{"SendWait", false, true},
		}
		for _, v := range variants {
			t.Run(v.name, func(t *testing.T) {
				lcIterate(t, lcIters/len(variants), func(i int) { lcCallbackIter(t, f, v.recv, v.wait, i) })
			})
		}
	})
}

// lcCallbackIter: recvSide picks Recv (else Send), wait RecvWait/SendWait.
func lcCallbackIter(t *testing.T, f *lcFactory, recvSide, wait bool, i int) {
	const capacity = 64
	tx, rx := lcChan[uint64](t, f, capacity, fdring.DefaultSpin)
	defer tx.Close()
	defer rx.Close()
	both := i%2 == 1      // the closer closes the peer too
	k := 1 + i*7%capacity // items in the ring before the call
	win := lcNewWindow()
	var peerClose func() error
	if recvSide {
		if both {
			peerClose = tx.Close
		}
		lcSend(t, tx, 0, k)
		owner := lcGo(func() lcRet {
			read := func(d []uint64) int {
				if d[0] != seq(0) {
					t.Errorf("first item %#x, want %#x", d[0], seq(0))
				}
				win.enter()
				lcTouch(d)
				return len(d)
			}
			ctx, cancel := lcCtx()
			defer cancel()
			var n int
			var err error
			if wait {
				n, err = rx.RecvWait(ctx, read)
			} else {
				n, err = rx.Recv(read)
			}
			return lcRet{int64(n), err}
		})
		lcCloseInWindow(t, win, owner, rx.Close, peerClose)
		r := lcAwait(t, owner, "Recv whose receiver was closed in its callback")
		if r.err != nil && !lcIsClosed(r.err) {
			t.Errorf("Recv closed in its callback = %d, %v; want nil or ErrClosed", r.n, r.err)
		}
		lcGuardT(t, func() {
			n, err := rx.Recv(lcNoRead(t))
			lcWantClosed(t, "Recv", int64(n), err)
			if !rx.Ready() {
				t.Error("Ready after Close = false")
			}
			rx.Stats()
		})
		if !both {
			// The sender agrees with what Recv reported: released if it
			// returned nil, nothing if it returned ErrClosed.
			want := uint64(r.n)
			if r.err != nil {
				want = 0
			}
			if got := tx.Stats().Received; got != want {
				t.Errorf("Recv returned %d, %v, but the sender sees %d released", r.n, r.err, got)
			}
			lcSeesClosed(t, "Send to a closed receiver", func() error {
				_, err := tx.Send(func(f []uint64) int { return 1 })
				return err
			})
		}
		return
	}
	// The sender side: the fill callback.
	if both {
		peerClose = rx.Close
	}
	if k > 1 {
		lcSend(t, tx, 0, k-1)
	}
	from := k - 1
	owner := lcGo(func() lcRet {
		fill := func(free []uint64) int {
			win.enter()
			for j := range free {
				free[j] = seq(uint64(from + j))
			}
			return len(free)
		}
		ctx, cancel := lcCtx()
		defer cancel()
		var n int
		var err error
		if wait {
			n, err = tx.SendWait(ctx, fill)
		} else {
			n, err = tx.Send(fill)
		}
		return lcRet{int64(n), err}
	})
	lcCloseInWindow(t, win, owner, tx.Close, peerClose)
	r := lcAwait(t, owner, "Send whose sender was closed in its fill")
	if r.err != nil && !lcIsClosed(r.err) {
		t.Errorf("Send closed in its fill = %d, %v; want nil or ErrClosed", r.n, r.err)
	}
	lcGuardT(t, func() {
		n, err := tx.Send(lcNoFill(t))
		lcWantClosed(t, "Send", int64(n), err)
		if !tx.Ready() {
			t.Error("Ready after Close = false")
		}
		tx.Stats()
	})
	if !both {
		// The receiver gets what was sent before, plus the fill's elements
		// if Send returned nil (published), none if ErrClosed; then io.EOF.
		want := from
		if r.err == nil {
			want += int(r.n)
		}
		if n, err := lcDrain(t, rx, 0); n != want || err != io.EOF {
			t.Errorf("Send returned %d, %v; the receiver got %d items, then %v; want %d, then io.EOF", r.n, r.err, n, err, want)
		}
	}
}

// TestLifecycleCloseBetweenPeekAndRelease closes the receiver while its owner
// holds a peeked slice; the owner then reads the whole slice and Releases,
// which returns ErrClosed and frees nothing.
func TestLifecycleCloseBetweenPeekAndRelease(t *testing.T) {
	lcForKinds(t, func(t *testing.T, f *lcFactory) {
		lcIterate(t, lcIters, func(i int) {
			const capacity = 64
			tx, rx := lcChan[uint64](t, f, capacity, fdring.DefaultSpin)
			defer tx.Close()
			defer rx.Close()
			both := i%2 == 1
			k := 1 + i%capacity
			lcSend(t, tx, 0, k)
			win := lcNewWindow()
			owner := lcGo(func() lcRet {
				d, err := rx.Peek()
				if err != nil || len(d) != k {
					return lcRet{int64(len(d)), fmt.Errorf("Peek before Close = %d elements, %w", len(d), err)}
				}
				win.enter()
				if lcTouch(d) == 0 && k > 0 {
					t.Error("the peeked items sum to zero")
				}
				release := []int{len(d), 0, len(d) / 2}[i/2%3]
				return lcRet{int64(release), rx.Release(release)}
			})
			var peerClose func() error
			if both {
				peerClose = tx.Close
			}
			lcCloseInWindow(t, win, owner, rx.Close, peerClose)
			r := lcAwait(t, owner, "Peek, Close, Release")
			if !lcIsClosed(r.err) {
				t.Errorf("Release(%d) after Close = %v, want an error wrapping ErrClosed", r.n, r.err)
			}
			lcGuardT(t, func() {
				d, err := rx.Peek()
				lcWantClosed(t, "Peek", int64(len(d)), err)
			})
			if !both {
				if got := tx.Stats().Received; got != 0 {
					t.Errorf("Release after Close freed %d elements; want none", got)
				}
			}
		})
	})
}

// TestLifecycleCloseBetweenReserveAndCommit closes the sender while its
// owner holds a reserved slice; the owner then writes the whole slice and
// Commits, which returns ErrClosed and publishes nothing: the receiver gets
// what was sent before, then io.EOF.
func TestLifecycleCloseBetweenReserveAndCommit(t *testing.T) {
	lcForKinds(t, func(t *testing.T, f *lcFactory) {
		lcIterate(t, lcIters, func(i int) {
			const capacity = 64
			tx, rx := lcChan[uint64](t, f, capacity, fdring.DefaultSpin)
			defer tx.Close()
			defer rx.Close()
			both := i%2 == 1
			k := i % capacity // items sent before
			lcSend(t, tx, 0, k)
			win := lcNewWindow()
			owner := lcGo(func() lcRet {
				free, err := tx.Reserve()
				if err != nil || len(free) == 0 {
					return lcRet{int64(len(free)), fmt.Errorf("Reserve before Close = %d elements, %w", len(free), err)}
				}
				win.enter()
				for j := range free {
					free[j] = seq(uint64(k + j))
				}
				commit := []int{len(free), 0, (len(free) + 1) / 2}[i/2%3]
				return lcRet{int64(commit), tx.Commit(commit)}
			})
			var peerClose func() error
			if both {
				peerClose = rx.Close
			}
			lcCloseInWindow(t, win, owner, tx.Close, peerClose)
			r := lcAwait(t, owner, "Reserve, Close, Commit")
			if !lcIsClosed(r.err) {
				t.Errorf("Commit(%d) after Close = %v, want an error wrapping ErrClosed", r.n, r.err)
			}
			lcGuardT(t, func() {
				free, err := tx.Reserve()
				lcWantClosed(t, "Reserve", int64(len(free)), err)
			})
			if !both {
				if n, err := lcDrain(t, rx, 0); n != k || err != io.EOF {
					t.Errorf("the receiver got %d items, then %v; want the %d sent before Close, then io.EOF", n, err, k)
				}
			}
		})
	})
}

// lcTrapReader is a byte source for Writer.ReadFrom: its k-th Read enters the
// window and then fills all of p (ring memory).
type lcTrapReader struct {
	k, calls  int
	off       int64
	win       *lcWindow
	before    int64 // bytes read before the k-th Read: all committed before Close
	windowLen int64 // what the k-th Read returned
}

func (r *lcTrapReader) Read(p []byte) (int, error) {
	r.calls++
	m := len(p)
	if r.calls == r.k {
		r.before = r.off
		r.win.enter()
		r.windowLen = int64(m)
	} else {
		m = min(m, 1+r.calls*37%len(p))
	}
	for j := range m {
		p[j] = lcPattern(r.off + int64(j))
	}
	r.off += int64(m)
	return m, nil
}

// lcTrapWriter is a destination for Reader.WriteTo: its k-th Write enters the
// window and then reads all of p (ring memory).
type lcTrapWriter struct {
	t         *testing.T
	k, calls  int
	off       int64
	win       *lcWindow
	before    int64 // bytes written before the k-th Write: all released before Close
	windowLen int64 // the length of the k-th Write
}

func (w *lcTrapWriter) Write(p []byte) (int, error) {
	w.calls++
	if w.calls == w.k {
		w.before = w.off
		w.win.enter()
		w.windowLen = int64(len(p))
	}
	for j, b := range p {
		if want := lcPattern(w.off + int64(j)); b != want {
			w.t.Errorf("byte %d = %#x, want %#x", w.off+int64(j), b, want)
			break
		}
	}
	w.off += int64(len(p))
	return len(p), nil
}

// lcCheckWriter counts and checks the bytes of a stream.
type lcCheckWriter struct {
	t   *testing.T
	off int64
}

func (w *lcCheckWriter) Write(p []byte) (int, error) {
	for j, b := range p {
		if want := lcPattern(w.off + int64(j)); b != want {
			w.t.Errorf("byte %d = %#x, want %#x", w.off+int64(j), b, want)
			break
		}
	}
	w.off += int64(len(p))
	return len(p), nil
}

// TestLifecycleCloseDuringCopy closes a side in the middle of an io.Copy
// through Writer.ReadFrom (inside the source's Read, which then fills ring
// memory) or Reader.WriteTo (inside the destination's Write, which then reads
// ring memory). The copy returns ErrClosed; the peer sees exactly the bytes
// published before the Close.
func TestLifecycleCloseDuringCopy(t *testing.T) {
	lcForKinds(t, func(t *testing.T, f *lcFactory) {
		t.Run("ReadFrom", func(t *testing.T) {
			lcIterate(t, lcIters/2, func(i int) {
				tx, rx := lcChan[byte](t, f, 256, fdring.DefaultSpin)
				defer tx.Close()
				defer rx.Close()
				win := lcNewWindow()
				src := &lcTrapReader{k: 1 + i%6, win: win}
				dst := &lcCheckWriter{t: t}
				cons := lcGo(func() lcRet {
					ctx, cancel := lcCtx()
					defer cancel()
					n, err := fdring.NewReader(rx).WithContext(ctx).WriteTo(dst)
					return lcRet{n, err}
				})
				owner := lcGo(func() lcRet {
					ctx, cancel := lcCtx()
					defer cancel()
					n, err := io.Copy(fdring.NewWriter(tx).WithContext(ctx), src)
					return lcRet{n, err}
				})
				lcCloseInWindow(t, win, owner, tx.Close)
				r := lcAwait(t, owner, "io.Copy into a Writer closed during ReadFrom")
				if !lcIsClosed(r.err) {
					t.Errorf("io.Copy into a Writer closed during ReadFrom = %d, %v; want ErrClosed", r.n, r.err)
				}
				c := lcAwait(t, cons, "the reader's WriteTo")
				if c.err != nil {
					t.Errorf("the reader's WriteTo = %d, %v; want a clean end", c.n, c.err)
				}
				if c.n != src.before {
					t.Errorf("the reader got %d bytes; %d were committed before Close, %d more read into the ring after it: want %d (nothing published after Close)", c.n, src.before, src.windowLen, src.before)
				}
				// ReadFrom may count the bytes it read after Close or not.
				if r.n != src.before && r.n != src.before+src.windowLen {
					t.Errorf("ReadFrom returned %d; %d bytes were committed before Close and %d read after it", r.n, src.before, src.windowLen)
				}
			})
		})
		t.Run("WriteTo", func(t *testing.T) {
			lcIterate(t, lcIters/2, func(i int) {
				tx, rx := lcChan[byte](t, f, 256, fdring.DefaultSpin)
				defer tx.Close()
				defer rx.Close()
				win := lcNewWindow()
				dst := &lcTrapWriter{t: t, k: 1 + i%6, win: win}
				prod := lcGo(func() lcRet {
					ctx, cancel := lcCtx()
					defer cancel()
					w := fdring.NewWriter(tx).WithContext(ctx)
					var off int64
					buf := make([]byte, 100)
					for {
						for j := range buf {
							buf[j] = lcPattern(off + int64(j))
						}
						n, err := w.Write(buf)
						off += int64(n)
						if err != nil {
							return lcRet{off, err}
						}
					}
				})
				owner := lcGo(func() lcRet {
					ctx, cancel := lcCtx()
					defer cancel()
					n, err := io.Copy(dst, fdring.NewReader(rx).WithContext(ctx))
					return lcRet{n, err}
				})
				lcCloseInWindow(t, win, owner, rx.Close)
				r := lcAwait(t, owner, "io.Copy from a Reader closed during WriteTo")
				if !lcIsClosed(r.err) {
					t.Errorf("io.Copy from a Reader closed during WriteTo = %d, %v; want ErrClosed", r.n, r.err)
				}
				p := lcAwait(t, prod, "the writer, whose reader closed")
				if !lcIsClosed(p.err) {
					t.Errorf("the writer whose reader closed = %d, %v; want ErrClosed", p.n, p.err)
				}
				if got := tx.Stats().Received; got != uint64(dst.before) {
					t.Errorf("the sender sees %d bytes released; %d were released before Close, %d more written out after it: want %d (nothing released after Close)", got, dst.before, dst.windowLen, dst.before)
				}
				// WriteTo counts the bytes dst took after Close, or not.
				if r.n != dst.before && r.n != dst.before+dst.windowLen {
					t.Errorf("WriteTo returned %d; %d bytes were released before Close and %d written out after it", r.n, dst.before, dst.windowLen)
				}
			})
		})
	})
}

// lcEndless is an endless byte source.
type lcEndless struct{}

func (lcEndless) Read(p []byte) (int, error) { return len(p), nil }

// lcBlockOp is a call that blocks on a full ring (sender) or an empty one.
type lcBlockOp struct {
	name     string
	sender   bool // blocks on a full ring; else on an empty one
	cleanEnd bool // the end of the stream is a nil error, not io.EOF
	run      func(ctx context.Context, tx *fdring.Sender[byte], rx *fdring.Receiver[byte]) lcRet
}

// lcBlockOps are the calls that wait.
var lcBlockOps = []lcBlockOp{
	{"SendWait", true, false, func(ctx context.Context, tx *fdring.Sender[byte], _ *fdring.Receiver[byte]) lcRet {
		n, err := tx.SendWait(ctx, func(f []byte) int { f[0] = 1; return 1 })
		return lcRet{int64(n), err}
	}},
	{"Put", true, false, func(ctx context.Context, tx *fdring.Sender[byte], _ *fdring.Receiver[byte]) lcRet {
		return lcRet{0, tx.Put(ctx, 1)}
	}},
	{"SenderWait", true, false, func(ctx context.Context, tx *fdring.Sender[byte], _ *fdring.Receiver[byte]) lcRet {
		return lcRet{0, tx.Wait(ctx)}
	}},
	{"WriterWrite", true, false, func(ctx context.Context, tx *fdring.Sender[byte], _ *fdring.Receiver[byte]) lcRet {
		n, err := fdring.NewWriter(tx).WithContext(ctx).Write(make([]byte, 100))
		return lcRet{int64(n), err}
	}},
	{"WriterReadFrom", true, false, func(ctx context.Context, tx *fdring.Sender[byte], _ *fdring.Receiver[byte]) lcRet {
		n, err := fdring.NewWriter(tx).WithContext(ctx).ReadFrom(lcEndless{})
		return lcRet{n, err}
	}},
	{"RecvWait", false, false, func(ctx context.Context, _ *fdring.Sender[byte], rx *fdring.Receiver[byte]) lcRet {
		n, err := rx.RecvWait(ctx, func(d []byte) int { return len(d) })
		return lcRet{int64(n), err}
	}},
	{"Get", false, false, func(ctx context.Context, _ *fdring.Sender[byte], rx *fdring.Receiver[byte]) lcRet {
		v, err := rx.Get(ctx)
		return lcRet{int64(v), err}
	}},
	{"ReceiverWait", false, false, func(ctx context.Context, _ *fdring.Sender[byte], rx *fdring.Receiver[byte]) lcRet {
		return lcRet{0, rx.Wait(ctx)}
	}},
	{"ReaderRead", false, false, func(ctx context.Context, _ *fdring.Sender[byte], rx *fdring.Receiver[byte]) lcRet {
		n, err := fdring.NewReader(rx).WithContext(ctx).Read(make([]byte, 100))
		return lcRet{int64(n), err}
	}},
	{"ReaderWriteTo", false, true, func(ctx context.Context, _ *fdring.Sender[byte], rx *fdring.Receiver[byte]) lcRet {
		n, err := fdring.NewReader(rx).WithContext(ctx).WriteTo(io.Discard)
		return lcRet{n, err}
	}},
}

// TestLifecycleCloseWhileBlocked blocks each waiting call (on a full ring for
// the sender's, an empty one for the receiver's), then closes its own side or
// the peer from another goroutine: the call returns promptly with ErrClosed
// (own side, or a sender whose receiver closed) or the end of the stream (a
// receiver whose sender closed).
func TestLifecycleCloseWhileBlocked(t *testing.T) {
	lcForKinds(t, func(t *testing.T, f *lcFactory) {
		for _, o := range lcBlockOps {
			for _, who := range []string{"own", "peer"} {
				t.Run(o.name+"-"+who, func(t *testing.T) {
					lcIterate(t, lcIters/8, func(i int) { lcBlockedIter(t, f, o, who, i) })
				})
			}
		}
	})
}

// lcBlockedIter blocks o, then closes its own side (who "own") or the peer.
func lcBlockedIter(t *testing.T, f *lcFactory, o lcBlockOp, who string, i int) {
	tx, rx := lcChan[byte](t, f, 64, fdring.DefaultSpin)
	defer tx.Close()
	defer rx.Close()
	if o.sender {
		lcFillFull(t, tx)
	}
	waits := rx.Stats
	if o.sender {
		waits = tx.Stats
	}
	w0 := waits().Waits
	res := lcGo(func() lcRet {
		ctx, cancel := lcCtx()
		defer cancel()
		return o.run(ctx, tx, rx)
	})
	if i%2 == 0 {
		// Close once the call sleeps on its fd; else at
		// once, racing with its way in.
		start := time.Now()
		for waits().Waits == w0 {
			select {
			case r := <-res:
				t.Fatalf("%s returned %+v, %v before anything closed", o.name, r.v, r.perr)
			default:
			}
			if time.Since(start) > lcPrompt {
				t.Fatalf("%s did not go to sleep within %v", o.name, lcPrompt)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
	own, peer := rx.Close, tx.Close
	if o.sender {
		own, peer = tx.Close, rx.Close
	}
	closer := own
	if who == "peer" {
		closer = peer
	}
	if err := closer(); err != nil {
		t.Errorf("Close = %v", err)
	}
	r := lcAwait(t, res, o.name+" blocked while its "+who+" side closed")
	switch {
	case who == "own" || o.sender:
		if !lcIsClosed(r.err) {
			t.Errorf("%s, %s side closed = %d, %v; want ErrClosed", o.name, who, r.n, r.err)
		}
	case o.cleanEnd:
		if r.err != nil || r.n != 0 {
			t.Errorf("%s, sender closed = %d, %v; want 0, nil (the end)", o.name, r.n, r.err)
		}
	default:
		if r.err != io.EOF {
			t.Errorf("%s, sender closed = %d, %v; want io.EOF", o.name, r.n, r.err)
		}
	}
}

// TestLifecycleCloseWithObservers streams while a third goroutine reads both
// sides' Stats in a loop, and the receiver's owner calls Ready and Stats in a
// loop (with Recv, or Ready and Stats only), and closes the receiver, the
// sender or both from the test goroutine at a varying moment. Everybody ends
// promptly with ErrClosed or io.EOF; Ready is true after the own side's
// Close; the counters never go backwards.
func TestLifecycleCloseWithObservers(t *testing.T) {
	lcForKinds(t, func(t *testing.T, f *lcFactory) {
		for _, mode := range []string{"Recv", "ReadyOnly"} {
			for _, which := range []string{"close-receiver", "close-sender", "close-both"} {
				t.Run(mode+"/"+which, func(t *testing.T) {
					lcIterate(t, lcIters/6, func(i int) { lcObserversIter(t, f, mode, which, i) })
				})
			}
		}
	})
}

// lcObserversIter: mode "Recv" or "ReadyOnly" (the receiver's owner never
// calls Recv); which side(s) to close.
func lcObserversIter(t *testing.T, f *lcFactory, mode, which string, i int) {
	tx, rx := lcChan[uint64](t, f, 64, fdring.DefaultSpin)
	defer tx.Close()
	defer rx.Close()
	closeRx, closeTx := which != "close-sender", which != "close-receiver"
	readyOnly := mode == "ReadyOnly" // the receiver's owner never calls Recv
	stop := make(chan struct{})
	var received atomic.Int64
	prod := lcGo(func() error {
		ctx, cancel := lcCtx()
		defer cancel()
		next := 0
		fill := func(f []uint64) int {
			for j := range f {
				f[j] = seq(uint64(next + j))
			}
			return len(f)
		}
		for {
			n, err := tx.SendWait(ctx, fill)
			next += n
			if err != nil {
				return err
			}
		}
	})
	cons := lcGo(func() error {
		ctx, cancel := lcCtx()
		defer cancel()
		var last fdring.Stats
		got := 0
		read := func(d []uint64) int {
			for j, v := range d {
				if v != seq(uint64(got+j)) {
					t.Errorf("item %d = %#x", got+j, v)
					break
				}
			}
			got += len(d)
			received.Store(int64(got))
			return len(d)
		}
		for {
			rx.Ready()
			st := rx.Stats()
			if st.Sent < last.Sent || st.Received < last.Received {
				t.Errorf("the receiver's Stats went backwards: %+v after %+v", st, last)
			}
			last = st
			if readyOnly {
				select {
				case <-stop:
					if closeRx && !rx.Ready() {
						t.Error("Ready after Close = false")
					}
					return nil
				default:
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				continue
			}
			n, err := rx.Recv(read)
			if err != nil {
				if lcIsClosed(err) && !rx.Ready() {
					t.Error("Ready after Close = false")
				}
				rx.Stats()
				return err
			}
			if n == 0 {
				// Park now and then: with every P busy, the runtime looks
				// at the poller (the producer's wakeup) only every 10 ms.
				time.Sleep(time.Microsecond)
			}
		}
	})
	obs := lcGo(func() error {
		var lastTx, lastRx fdring.Stats
		after := 0
		for j := 0; after < 100; j++ {
			select {
			case <-stop:
				after++
			default:
			}
			st, sr := tx.Stats(), rx.Stats()
			if st.Sent < lastTx.Sent || st.Received < lastTx.Received || sr.Sent < lastRx.Sent || sr.Received < lastRx.Received {
				t.Errorf("Stats went backwards: %+v after %+v, %+v after %+v", st, lastTx, sr, lastRx)
				return nil
			}
			lastTx, lastRx = st, sr
			if j%64 == 63 {
				time.Sleep(time.Microsecond) // see the receiver's owner
			} else {
				runtime.Gosched()
			}
		}
		return nil
	})
	// Close at a varying moment: before or after some items moved.
	if want := int64(i % 5 * 50); !readyOnly {
		deadline := time.Now().Add(lcPrompt)
		for received.Load() < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Microsecond)
		}
	} else {
		time.Sleep(time.Duration(i%5) * 50 * time.Microsecond)
	}
	lcGuardT(t, func() {
		if closeRx {
			if err := rx.Close(); err != nil {
				t.Errorf("the receiver's Close = %v", err)
			}
		}
		if closeTx {
			if err := tx.Close(); err != nil {
				t.Errorf("the sender's Close = %v", err)
			}
		}
	})
	close(stop)
	perr := lcAwait(t, prod, "the producer")
	if !lcIsClosed(perr) {
		t.Errorf("the producer ended with %v, want ErrClosed", perr)
	}
	cerr := lcAwait(t, cons, "the receiver's owner")
	switch {
	case readyOnly:
		if cerr != nil {
			t.Errorf("the receiver's owner (Ready and Stats only) ended with %v", cerr)
		}
	case closeRx:
		if !lcIsClosed(cerr) && cerr != io.EOF {
			t.Errorf("the receiver's owner ended with %v, want ErrClosed or io.EOF", cerr)
		}
	default:
		if cerr != io.EOF {
			t.Errorf("the receiver's owner ended with %v, want io.EOF (only the sender closed)", cerr)
		}
	}
	lcAwait(t, obs, "the Stats observer")
	tx.Close()
	rx.Close()
}

// ---- 3. the loop ----

// TestLifecycleLoopConsume closes a Receiver that handlers.Consume serves on a
// running loop, from another goroutine: at a random moment, or while the
// consume function holds ring memory (it then touches all of it). OnDone
// gets ErrClosed, the producer ErrClosed, and the loop stops cleanly.
func TestLifecycleLoopConsume(t *testing.T) {
	lcForKinds(t, func(t *testing.T, f *lcFactory) {
		for _, variant := range []string{"random", "in-callback"} {
			t.Run(variant, func(t *testing.T) {
				lcIterate(t, lcIters/8, func(i int) { lcLoopConsumeIter(t, f, variant, i) })
			})
		}
	})
}

// lcLoopConsumeIter: variant "random" or "in-callback".
func lcLoopConsumeIter(t *testing.T, f *lcFactory, variant string, i int) {
	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tx, rx := lcChan[uint64](t, f, 256, fdring.DefaultSpin)
	defer tx.Close()
	defer rx.Close()
	inWindow := variant == "in-callback"
	windowCall := 1 + i%4
	win := lcNewWindow()
	var got atomic.Int64
	calls := 0 // loop goroutine only
	fn := func(d []uint64) int {
		calls++
		base := got.Load()
		if d[0] != seq(uint64(base)) {
			t.Errorf("item %d = %#x", base, d[0])
		}
		if inWindow && calls == windowCall {
			win.enter()
		}
		lcTouch(d)
		got.Add(int64(len(d)))
		return len(d)
	}
	done := make(chan error, 1)
	if _, err := handlers.Consume(l, rx, fn, handlers.OnDone(func(err error) { done <- err })); err != nil {
		t.Fatal(err)
	}
	run := lcGo(func() error {
		ctx, cancel := lcCtx()
		defer cancel()
		return l.Run(ctx)
	})
	prod := lcGo(func() error {
		ctx, cancel := lcCtx()
		defer cancel()
		next := 0
		for {
			n, err := tx.SendWait(ctx, func(f []uint64) int {
				m := min(len(f), 1+next%97)
				for j := range m {
					f[j] = seq(uint64(next + j))
				}
				return m
			})
			next += n
			if err != nil {
				return err
			}
		}
	})
	if inWindow {
		lcCloseInWindow(t, win, run, rx.Close)
	} else {
		deadline := time.Now().Add(lcPrompt)
		for got.Load() < int64(i%7*100) && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		lcGuardT(t, func() {
			if err := rx.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
		})
	}
	timer := time.NewTimer(lcPrompt)
	defer timer.Stop()
	select {
	case err := <-done:
		if !lcIsClosed(err) {
			t.Errorf("OnDone(%v), want ErrClosed", err)
		}
	case r := <-run:
		t.Fatalf("the loop's Run ended before OnDone: %v, %v", r.v, r.perr)
	case <-timer.C:
		t.Fatalf("OnDone not called within %v of the receiver's Close:\n%s", lcPrompt, lcStacks())
	}
	if err := lcAwait(t, prod, "the producer"); !lcIsClosed(err) {
		t.Errorf("the producer ended with %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("the loop's Close = %v", err)
	}
	if err := lcAwait(t, run, "the loop's Run after Close"); err != nil {
		t.Errorf("Run after Close = %v, want nil", err)
	}
}

// TestLifecycleLoopClosedWhilePeeked closes a running loop while a ring
// handler holds a peeked slice: from another goroutine, from the handler
// itself, or from another goroutine together with the receiver. The handler
// touches the slice and Releases; Run returns nil; the receiver, still open,
// goes on where the Release left it.
func TestLifecycleLoopClosedWhilePeeked(t *testing.T) {
	lcForKinds(t, func(t *testing.T, f *lcFactory) {
		variants := []string{"loop-closed-elsewhere", "loop-closed-by-handler", "loop-and-receiver-closed"}
		for how, variant := range variants {
			t.Run(variant, func(t *testing.T) {
				lcIterate(t, lcIters/10, func(i int) { lcLoopPeekedIter(t, f, how, i) })
			})
		}
	})
}

// lcLoopPeekedIter: how 0: another goroutine closes the loop; 1: the
// handler does; 2: another goroutine closes the loop and the receiver.
func lcLoopPeekedIter(t *testing.T, f *lcFactory, how, i int) {
	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tx, rx := lcChan[uint64](t, f, 256, fdring.DefaultSpin)
	defer tx.Close()
	defer rx.Close()
	k := 1 + i%100
	lcSend(t, tx, 0, k)
	win := lcNewWindow()
	type held struct {
		n               int
		postErr, relErr error
		unwatchErr      error
	}
	heldc := make(chan held, 1)
	var tok loop.Token
	handled := false
	tok, err = l.Watch(rx, loop.HandlerFunc(func(loop.Token, loop.Event) {
		if handled {
			return
		}
		handled = true
		d, _ := rx.Peek()
		if how == 1 {
			if err := l.Close(); err != nil {
				t.Errorf("the loop's Close from its handler = %v", err)
			}
		} else {
			win.enter()
		}
		lcTouch(d)
		var h held
		h.n = len(d)
		h.postErr = l.Post(func() {})
		h.relErr = rx.Release(len(d))
		h.unwatchErr = l.Unwatch(tok)
		heldc <- h
	}), loop.Readable)
	if err != nil {
		t.Fatal(err)
	}
	run := lcGo(func() error {
		ctx, cancel := lcCtx()
		defer cancel()
		return l.Run(ctx)
	})
	if how != 1 {
		closers := []func() error{l.Close}
		if how == 2 {
			closers = append(closers, rx.Close)
		}
		lcCloseInWindow(t, win, run, closers...)
	}
	if err := lcAwait(t, run, "the loop's Run, closed while its handler held a peeked slice"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	var h held
	select {
	case h = <-heldc:
	default:
		t.Fatal("Run returned, the handler did not finish")
	}
	if !errors.Is(h.postErr, loop.ErrClosed) {
		t.Errorf("Post after the loop's Close = %v, want loop.ErrClosed", h.postErr)
	}
	if h.unwatchErr != nil {
		t.Errorf("Unwatch from the handler after the loop's Close = %v", h.unwatchErr)
	}
	if how == 2 {
		if !lcIsClosed(h.relErr) {
			t.Errorf("Release after the receiver's Close = %v, want ErrClosed", h.relErr)
		}
		return
	}
	if h.relErr != nil || h.n != k {
		t.Errorf("the handler peeked %d of %d items, Release = %v", h.n, k, h.relErr)
	}
	// The receiver outlives the loop and goes on after the Release.
	lcSend(t, tx, k, 5)
	if err := tx.Close(); err != nil {
		t.Errorf("the sender's Close = %v", err)
	}
	if n, err := lcDrain(t, rx, k); n != 5 || err != io.EOF {
		t.Errorf("after the loop closed, the receiver got %d items, then %v; want 5, then io.EOF", n, err)
	}
}
