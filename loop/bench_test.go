package loop

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkFanIn: producers on their own goroutines stream into rings, one
// loop drains them all. b.N items in total.
func BenchmarkFanIn(b *testing.B) {
	for _, rings := range []int{1, 8, 64} {
		for _, spin := range []time.Duration{0, 20 * time.Microsecond} {
			b.Run(fmt.Sprintf("rings=%d/spin=%v", rings, spin), func(b *testing.B) {
				benchFanIn(b, rings, spin)
			})
		}
	}
}

func benchFanIn(b *testing.B, rings int, spin time.Duration) {
	b.ReportAllocs()
	l := newLoop(b, WithSpin(spin))
	rs := make([]*fakeRing, rings)
	remaining := b.N // loop goroutine only
	done := make(chan struct{})
	for i := range rings {
		rs[i] = newFakeRing(b, 1024)
		r := rs[i]
		if _, err := l.WatchRing(r, HandlerFunc(func(Token, Event) {
			n, _ := r.recv(func(uint64) {})
			remaining -= n
			if n > 0 && remaining == 0 {
				close(done)
			}
		}), true); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	b.ResetTimer()
	go func() { errc <- l.Run(ctx) }()
	var wg sync.WaitGroup
	for i, r := range rs {
		share := b.N / rings
		if i < b.N%rings {
			share++
		}
		wg.Go(func() {
			var v uint64
			for sent := 0; sent < share && ctx.Err() == nil; {
				n := r.sendBatch(v, min(64, share-sent))
				sent += n
				v += uint64(n)
				if n == 0 {
					yield()
				}
			}
		})
	}
	wg.Wait()
	if b.N > 0 {
		select {
		case <-done:
		case <-ctx.Done():
			b.Fatal("timed out")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
	l.Stop()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	st := l.Stats()
	b.ReportMetric(float64(st.PollsBlocking)/float64(b.N), "sleeps/item")
}

// BenchmarkPingPong: one item to the loop through one ring, back through
// another; ns/op is the round trip.
func BenchmarkPingPong(b *testing.B) {
	for _, spin := range []time.Duration{0, 50 * time.Microsecond} {
		b.Run(fmt.Sprintf("spin=%v", spin), func(b *testing.B) {
			b.ReportAllocs()
			l := newLoop(b, WithSpin(spin))
			in, out := newFakeRing(b, 64), newFakeRing(b, 64)
			if _, err := l.WatchRing(in, HandlerFunc(func(Token, Event) {
				in.recv(func(v uint64) { out.trySend(v) })
			}), true); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- l.Run(ctx) }()
			b.ResetTimer()
			for i := range b.N {
				in.trySend(uint64(i))
				if !out.waitReady(ctx, spin) {
					b.Fatal("timed out")
				}
				out.recv(func(uint64) {})
			}
			b.StopTimer()
			l.Stop()
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
		})
	}
}
