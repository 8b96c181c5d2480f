package ring_test

import (
	"runtime"
	"testing"
)

// BenchmarkSPSC measures the bare ring between two goroutines that poll
// (no fds, no sleeping): the ceiling for the layers above.
func BenchmarkSPSC(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(map[int]string{1: "batch1", 64: "batch64"}[batch], func(b *testing.B) {
			r := newRing[uint64](b, 1024)
			tx, rx := r.Sender(), r.Receiver()
			total := uint64(b.N)
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				next := uint64(0)
				fill := func(f []uint64) int {
					k := min(len(f), batch, int(total-next))
					for i := range k {
						f[i] = next
						next++
					}
					return k
				}
				for next < total {
					if n, _ := tx.Send(fill); n == 0 {
						runtime.Gosched()
					}
				}
			}()
			var got, sum uint64
			read := func(d []uint64) int {
				k := min(len(d), batch)
				for _, v := range d[:k] {
					sum += v
				}
				got += uint64(k)
				return k
			}
			for got < total {
				if n, _ := rx.Recv(read); n == 0 {
					runtime.Gosched()
				}
			}
			b.StopTimer()
			if sum != total*(total-1)/2 {
				b.Fatal("sum")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
		})
	}
}
