package fdring_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/handlers"
	"github.com/fdring/fdring/loop"
)

var soak = flag.Duration("soak", 0, "run TestSoak for this long (e.g. -soak 10m); off by default")

// soakProducer is a child process: Dial, then stream sequenced items,
// reporting the committed count on stdout every reportEvery items; it closes
// cleanly after a random count, unless it is killed first.
func soakProducer(path string, seed uint64) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(seed, 7))
	tx, err := fdring.DialContext[uint64](ctx, path, 1<<uint(6+rng.IntN(8)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak producer: dial:", err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	limit := uint64(rng.IntN(3_000_000))
	const reportEvery = 1 << 14
	next := uint64(0)
	for next < limit {
		want := 1 + rng.IntN(300)
		_, err := tx.SendWait(ctx, func(f []uint64) int {
			k := min(len(f), want, int(limit-next))
			for i := range k {
				f[i] = seq(next)
				next++
			}
			return k
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "soak producer: send:", err)
			return 3
		}
		if next%reportEvery < uint64(want) {
			fmt.Fprintf(out, "committed %d\n", next)
			out.Flush()
		}
	}
	fmt.Fprintf(out, "committed %d\n", next)
	out.Flush()
	if err := tx.Close(); err != nil {
		return 4
	}
	fmt.Fprintln(out, "closed")
	out.Flush()
	return 0
}

// TestSoak: producers in child processes, killed at random moments or
// closing at random counts, restarted; one loop consumes all of them and
// verifies that each producer's lifetime delivered exactly a prefix of its
// sequence, at least as long as what the producer had reported committed,
// with the right end (io.EOF after a clean close, ErrPeerGone after a
// kill). Meanwhile Posts storm the loop and RecvWait calls with random
// deadlines run on a side channel. At the end: no fd growth, no heap growth.
func TestSoak(t *testing.T) {
	if *soak <= 0 {
		t.Skip("soak test: run with -soak 10m")
	}
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	fds0 := fdCount(t)

	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *soak+2*time.Minute)
	defer cancel()
	loopDone := make(chan error, 1)
	go func() { loopDone <- l.Run(ctx) }()

	var (
		elements, lifetimes, kills, cleanEnds, posts, cancels atomic.Uint64
		mu                                                    sync.Mutex // guards failures
		failures                                              []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}

	// Post storm: bounded by the test's end.
	stopStorm := make(chan struct{})
	var stormWG sync.WaitGroup
	for range 2 {
		stormWG.Add(1)
		go func() {
			defer stormWG.Done()
			for {
				select {
				case <-stopStorm:
					return
				default:
				}
				if l.Post(func() { posts.Add(1) }) != nil {
					return
				}
				runtime.Gosched()
			}
		}()
	}

	// Random cancellations: an in-process channel whose receiver waits
	// with random short deadlines while a producer trickles.
	stopSide := make(chan struct{})
	var sideWG sync.WaitGroup
	sideWG.Add(1)
	go func() {
		defer sideWG.Done()
		tx, rx, err := fdring.New[uint64](8, fdring.WithSpin(0))
		if err != nil {
			fail("side channel: %v", err)
			return
		}
		defer rx.Close()
		go func() {
			defer tx.Close()
			for i := uint64(0); ; i++ {
				select {
				case <-stopSide:
					return
				default:
				}
				if _, err := tx.SendWait(ctx, func(f []uint64) int { f[0] = seq(i); return 1 }); err != nil {
					return
				}
			}
		}()
		rng := rand.New(rand.NewPCG(3, 3))
		got := uint64(0)
		for {
			d := time.Duration(rng.IntN(200)) * time.Microsecond
			wctx, c := context.WithTimeout(ctx, d)
			_, err := rx.RecvWait(wctx, func(d []uint64) int {
				for _, v := range d {
					if v != seq(got) {
						fail("side channel: item %d = %#x", got, v)
					}
					got++
				}
				return len(d)
			})
			c()
			switch {
			case err == nil:
			case errors.Is(err, context.DeadlineExceeded):
				cancels.Add(1)
			case err == io.EOF:
				return
			default:
				fail("side channel: %v", err)
				return
			}
		}
	}()

	// Producer slots: each runs child after child until the time is up.
	const slots = 4
	var listeners []*fdring.Listener
	deadline := time.Now().Add(*soak)
	var wg sync.WaitGroup
	for slot := range slots {
		wg.Add(1)
		ln, err := fdring.Listen(fmt.Sprintf("%s/soak%d.sock", t.TempDir(), slot))
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, ln)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(slot), 11))
			for life := 0; time.Now().Before(deadline); life++ {
				cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), "FDRING_CHILD=soak", "FDRING_PATH="+ln.Path(),
					"FDRING_N="+strconv.FormatUint(uint64(slot)<<32|uint64(life), 10))
				cmd.Stderr = os.Stderr
				out, err := cmd.StdoutPipe()
				if err != nil {
					fail("pipe: %v", err)
					return
				}
				var committed atomic.Uint64
				closing := make(chan struct{})
				reported := make(chan struct{})
				if err := cmd.Start(); err != nil {
					fail("start: %v", err)
					return
				}
				go func() {
					defer close(reported)
					sc := bufio.NewScanner(out)
					for sc.Scan() {
						line := sc.Text()
						if line == "closed" {
							close(closing)
							continue
						}
						if n, ok := strings.CutPrefix(line, "committed "); ok {
							v, _ := strconv.ParseUint(n, 10, 64)
							committed.Store(v)
						}
					}
				}()
				rx, err := fdring.AcceptContext[uint64](ctx, ln)
				if err != nil {
					fail("accept: %v", err)
					cmd.Process.Kill()
					cmd.Wait()
					return
				}
				type end struct {
					n   uint64
					err error
				}
				ended := make(chan end, 1)
				got := uint64(0)
				var bad error
				l.Post(func() {
					_, err := handlers.Consume(l, rx, func(d []uint64) int {
						for _, v := range d {
							if bad == nil && v != seq(got) {
								bad = fmt.Errorf("item %d = %#x", got, v)
							}
							got++
						}
						return len(d)
					}, handlers.OnDone(func(err error) { ended <- end{got, err} }))
					if err != nil {
						ended <- end{got, err}
					}
				})
				killAt := time.Duration(rng.IntN(400)) * time.Millisecond
				killed := false
				var e end
				select {
				case e = <-ended:
				case <-time.After(killAt):
					cmd.Process.Signal(syscall.SIGKILL)
					killed = true
					e = <-ended
				}
				<-reported // before Wait, which closes the pipe
				cmd.Wait()
				l.Post(func() { rx.Close() })
				lifetimes.Add(1)
				elements.Add(e.n)
				select {
				case <-closing:
					cleanEnds.Add(1)
					if e.err != nil {
						fail("slot %d life %d: clean close ended with %v", slot, life, e.err)
					}
				default:
					if !killed {
						fail("slot %d life %d: ended with %v without a close or a kill", slot, life, e.err)
					}
					kills.Add(1)
					// Killed: ErrPeerGone, or io.EOF (nil) when the kill
					// landed between its Close and its report.
					if e.err != nil && !errors.Is(e.err, fdring.ErrPeerGone) {
						fail("slot %d life %d: killed producer ended with %v", slot, life, e.err)
					}
				}
				if bad != nil {
					fail("slot %d life %d: %v", slot, life, bad)
				}
				if c := committed.Load(); e.n < c {
					fail("slot %d life %d: delivered %d, producer had reported %d committed", slot, life, e.n, c)
				}
			}
		}()
	}
	wg.Wait()
	for _, ln := range listeners {
		ln.Close()
	}
	close(stopSide)
	sideWG.Wait()
	close(stopStorm)
	stormWG.Wait()
	l.Stop()
	if err := <-loopDone; err != nil {
		t.Fatal(err)
	}
	l.Close()

	runtime.GC()
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	fds1 := fdCount(t)
	t.Logf("soak %v: %d producer lifetimes (%d killed, %d closed cleanly), %d elements verified, %d posts, %d cancelled waits",
		*soak, lifetimes.Load(), kills.Load(), cleanEnds.Load(), elements.Load(), posts.Load(), cancels.Load())
	t.Logf("fds %d -> %d; heap in use %d KiB -> %d KiB", fds0, fds1, m0.HeapInuse>>10, m1.HeapInuse>>10)
	for _, f := range failures {
		t.Error(f)
	}
	if fds1 > fds0 {
		t.Errorf("fds grew from %d to %d", fds0, fds1)
	}
	if m1.HeapInuse > m0.HeapInuse+64<<20 {
		t.Errorf("heap in use grew from %d to %d bytes", m0.HeapInuse, m1.HeapInuse)
	}
}
