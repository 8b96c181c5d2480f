// Command fanin streams sequenced items from many producers into one event
// loop thread that consumes all of them, verifies every item and reports
// throughput, wakeups and syscalls per message.
//
//	go run ./examples/fanin                     # 8 producer goroutines
//	go run ./examples/fanin -procs              # 8 producer processes (Dial)
//	go run ./examples/fanin -producers 64 -items 500000 -spin 20us
//
// Each producer owns one ring (fdring.New in goroutine mode; in -procs mode
// the child process creates it in a sealed memfd with fdring.Dial and the
// consumer takes it with fdring.Accept). The consumer watches every ring on
// one loop.Loop: while any ring has data the loop polls with a zero timeout
// and makes no syscall per message; only when all rings are empty does it
// arm them and sleep until a producer signals.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/handlers"
	"github.com/fdring/fdring/loop"
)

// Item is what flows through the rings: 64 bytes, one cache line.
type Item struct {
	Seq      uint64
	Producer uint32
	Check    uint32
	Payload  [6]uint64
}

func check(producer uint32, seq uint64) uint32 {
	x := seq*0x9e3779b97f4a7c15 ^ uint64(producer)*0xbf58476d1ce4e5b9
	return uint32(x ^ x>>32)
}

const childEnv = "FDRING_FANIN_CHILD"

func main() {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	producers := flag.Int("producers", 8, "number of producers")
	items := flag.Uint64("items", 16_000_000, "items per producer")
	procs := flag.Bool("procs", false, "run producers as child processes that Dial the consumer")
	spin := flag.Duration("spin", 0, "how long the consumer loop polls its rings before it sleeps")
	capacity := flag.Int("capacity", 4096, "ring capacity in items (a power of two)")
	flag.Parse()
	if *producers < 1 || *items < 1 {
		fmt.Fprintln(os.Stderr, "fanin: -producers and -items must be positive")
		os.Exit(2)
	}
	if err := run(*producers, *items, *procs, *spin, *capacity); err != nil {
		fmt.Fprintln(os.Stderr, "fanin:", err)
		os.Exit(1)
	}
}

// stream is the consumer's view of one producer.
type stream struct {
	rx   *fdring.Receiver[Item]
	id   uint32
	next uint64 // next expected sequence number
	err  error  // first verification error
	done bool
	end  error // nil after a clean end (the producer closed, all consumed)
}

func run(producers int, items uint64, procs bool, spin time.Duration, capacity int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()

	var opts []loop.Option
	if spin > 0 {
		opts = append(opts, loop.WithSpin(spin))
	}
	l, err := loop.New(opts...)
	if err != nil {
		return err
	}
	defer l.Close()

	mode := "goroutines"
	if procs {
		mode = "processes"
	}
	fmt.Printf("fanin: %d producer %s x %d items of %d bytes into one loop thread (ring capacity %d, spin %v)\n",
		producers, mode, items, itemSize, capacity, spin)

	var streams []*stream
	var start func() // starts the producers
	var wait func() error
	if procs {
		streams, start, wait, err = spawnProducers(ctx, producers, items, capacity)
	} else {
		streams, start, wait, err = goProducers(ctx, producers, items, capacity)
	}
	if err != nil {
		return err
	}

	remaining := len(streams)
	var received uint64
	for _, s := range streams {
		verify := func(data []Item) int {
			for i := range data {
				it := &data[i]
				if s.err == nil && (it.Seq != s.next || it.Producer != s.id || it.Check != check(s.id, it.Seq)) {
					s.err = fmt.Errorf("producer %d: item %d: got seq %d producer %d check %#x",
						s.id, s.next, it.Seq, it.Producer, it.Check)
				}
				s.next++
			}
			received += uint64(len(data))
			return len(data)
		}
		// The consumer drains a bounded amount per loop round, so one
		// busy ring cannot starve the others, and reports the end.
		_, err := handlers.Consume(l, s.rx, verify, handlers.OnDone(func(err error) {
			s.done, s.end = true, err
			if remaining--; remaining == 0 {
				l.Stop()
			}
		}))
		if err != nil {
			return err
		}
	}

	ioBefore := readProcIO()
	began := time.Now()
	var lastCount uint64
	last := began
	l.Every(250*time.Millisecond, func() {
		now := time.Now()
		fmt.Printf("  %6.1fs  %12d items  %8.1f M items/s\n", now.Sub(began).Seconds(), received,
			float64(received-lastCount)/now.Sub(last).Seconds()/1e6)
		lastCount, last = received, now
	})
	start()
	runErr := l.Run(ctx)
	elapsed := time.Since(began)
	ioAfter := readProcIO()
	st := l.Stats()
	if err := wait(); err != nil {
		return fmt.Errorf("producers: %w", err)
	}
	if runErr != nil {
		return fmt.Errorf("loop: %w", runErr)
	}

	var failures []error
	for _, s := range streams {
		switch {
		case s.err != nil:
			failures = append(failures, s.err)
		case !s.done || s.end != nil:
			failures = append(failures, fmt.Errorf("producer %d: ended with %v", s.id, s.end))
		case s.next != items:
			failures = append(failures, fmt.Errorf("producer %d: received %d of %d items", s.id, s.next, items))
		}
		s.rx.Close()
	}
	if len(failures) > 0 {
		return errors.Join(failures...)
	}

	total := uint64(producers) * items
	secs := elapsed.Seconds()
	polls := st.PollsBlocking + st.PollsNonBlocking
	fmt.Printf("verified %d items from %d producers: every sequence complete, in order, checksums match\n", total, producers)
	fmt.Printf("throughput   %.1f M items/s, %.0f MB/s (%v)\n", float64(total)/secs/1e6, float64(total*itemSize)/secs/1e6, elapsed.Round(time.Millisecond))
	fmt.Printf("loop         %d blocking waits (wakeups: %d), %d non-blocking polls, %d ring dispatches, %d arms\n",
		st.PollsBlocking, st.Wakeups, st.PollsNonBlocking, st.RingDispatches, st.Arms)
	fmt.Printf("per message  %.5f loop polls (epoll_wait), %.5f wakeups\n", float64(polls)/float64(total), float64(st.Wakeups)/float64(total))
	if ioBefore.ok && ioAfter.ok {
		sys := (ioAfter.syscr - ioBefore.syscr) + (ioAfter.syscw - ioBefore.syscw)
		scope := "this process (consumer and producer goroutines)"
		missed := "membarrier, the Go runtime's own"
		if procs {
			scope = "the consumer process"
			missed = "sendto/recvmmsg wakeups between processes, " + missed
		}
		fmt.Printf("syscalls/msg %.5f  (read+write syscalls of %s, from /proc/self/io, plus the loop's polls: %.5f;\n"+
			"             not counted: %s)\n",
			float64(sys)/float64(total), scope, float64(sys+polls)/float64(total), missed)
	}
	return nil
}

const itemSize = 64

type procIO struct {
	syscr, syscw uint64
	ok           bool
}

// readProcIO reads the process's read and write syscall counters.
func readProcIO() procIO {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return procIO{}
	}
	var p procIO
	for _, line := range splitLines(string(b)) {
		var name string
		var v uint64
		if _, err := fmt.Sscanf(line, "%s %d", &name, &v); err != nil {
			continue
		}
		switch name {
		case "syscr:":
			p.syscr = v
		case "syscw:":
			p.syscw = v
		}
	}
	p.ok = true
	return p
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

// produce streams items sequenced items into tx and closes it.
func produce(ctx context.Context, tx *fdring.Sender[Item], id uint32, items uint64) error {
	next := uint64(0)
	fill := func(free []Item) int {
		k := min(uint64(len(free)), items-next)
		for i := range free[:k] {
			free[i] = Item{Seq: next, Producer: id, Check: check(id, next)}
			next++
		}
		return int(k)
	}
	for next < items {
		if _, err := tx.SendWait(ctx, fill); err != nil {
			return err
		}
	}
	return tx.Close()
}

func goProducers(ctx context.Context, producers int, items uint64, capacity int) ([]*stream, func(), func() error, error) {
	var streams []*stream
	var senders []*fdring.Sender[Item]
	for i := range producers {
		tx, rx, err := fdring.New[Item](capacity)
		if err != nil {
			return nil, nil, nil, err
		}
		streams = append(streams, &stream{rx: rx, id: uint32(i)})
		senders = append(senders, tx)
	}
	var wg sync.WaitGroup
	errs := make([]error, producers)
	start := func() {
		for i, tx := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = produce(ctx, tx, uint32(i), items)
			}()
		}
	}
	wait := func() error { wg.Wait(); return errors.Join(errs...) }
	return streams, start, wait, nil
}

// spawnProducers starts child processes (this binary again) that Dial a
// unix socket; each accepted connection is one producer's ring.
func spawnProducers(ctx context.Context, producers int, items uint64, capacity int) ([]*stream, func(), func() error, error) {
	dir, err := os.MkdirTemp("", "fdring-fanin-")
	if err != nil {
		return nil, nil, nil, err
	}
	path := filepath.Join(dir, "fanin.sock")
	ln, err := fdring.Listen(path)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, nil, err
	}
	defer ln.Close()
	self, err := os.Executable()
	if err != nil {
		return nil, nil, nil, err
	}
	var cmds []*exec.Cmd
	var streams []*stream
	for i := range producers {
		cmd := exec.CommandContext(ctx, self)
		cmd.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(i), "FDRING_FANIN_PATH="+path,
			"FDRING_FANIN_ITEMS="+strconv.FormatUint(items, 10), "FDRING_FANIN_CAP="+strconv.Itoa(capacity))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, nil, nil, err
		}
		cmds = append(cmds, cmd)
		// Accept before the next child starts, so stream i is child i
		// (and every item's Producer field is checked against it).
		actx, acancel := context.WithTimeout(ctx, 30*time.Second)
		rx, err := fdring.AcceptContext[Item](actx, ln)
		acancel()
		if err != nil {
			for _, c := range cmds {
				c.Process.Kill()
				c.Wait()
			}
			return nil, nil, nil, err
		}
		streams = append(streams, &stream{rx: rx, id: uint32(i)})
	}
	os.RemoveAll(dir)  // the socket is no longer needed: each ring has its own connection
	start := func() {} // the children stream as soon as they are connected
	wait := func() error {
		var errs []error
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				errs = append(errs, fmt.Errorf("producer process %d: %w", i, err))
			}
		}
		return errors.Join(errs...)
	}
	return streams, start, wait, nil
}

// child is a producer process: Dial, stream, close.
func child() int {
	id, _ := strconv.Atoi(os.Getenv(childEnv))
	items, _ := strconv.ParseUint(os.Getenv("FDRING_FANIN_ITEMS"), 10, 64)
	capacity, _ := strconv.Atoi(os.Getenv("FDRING_FANIN_CAP"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tx, err := fdring.DialContext[Item](ctx, os.Getenv("FDRING_FANIN_PATH"), capacity)
	if err != nil {
		fmt.Fprintf(os.Stderr, "producer %d: %v\n", id, err)
		return 1
	}
	if err := produce(ctx, tx, uint32(id), items); err != nil {
		fmt.Fprintf(os.Stderr, "producer %d: %v\n", id, err)
		return 1
	}
	return 0
}
