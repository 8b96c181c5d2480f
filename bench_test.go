package fdring_test

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/fdring/fdring"
)

// BenchmarkThroughput moves b.N items (or bytes) from a producer goroutine
// to the benchmark goroutine. fdring and its alternatives run in the same
// benchmark so one run compares them on the same CPU placement.
func BenchmarkThroughput(b *testing.B) {
	for _, batch := range []int{1, 64} {
		name := "u64/batch" + map[int]string{1: "1", 64: "64"}[batch]
		if batch == 1 {
			b.Run(name+"/fdring-putget", benchPutGet)
		}
		b.Run(name+"/fdring", func(b *testing.B) { benchRingU64(b, batch) })
		b.Run(name+"/chan", func(b *testing.B) { benchChanU64(b, batch) })
	}
	b.Run("bytes/4KiB/fdring", func(b *testing.B) { benchRingBytes(b, 4096) })
	b.Run("bytes/4KiB/pipe", func(b *testing.B) { benchPipeBytes(b, 4096) })
}

// BenchmarkPerItem is the instruction cost of one item: one goroutine
// sends 16 items one per call, then receives them one per call, so no
// cache line moves between CPUs and no side ever waits. ns/op is per item
// (a send and a receive).
func BenchmarkPerItem(b *testing.B) {
	b.Run("callback", func(b *testing.B) {
		tx, rx, err := fdring.New[uint64](1024)
		if err != nil {
			b.Fatal(err)
		}
		defer tx.Close()
		defer rx.Close()
		ctx := context.Background()
		var next, sum uint64
		fill := func(f []uint64) int { f[0] = next; next++; return 1 }
		read := func(d []uint64) int { sum += d[0]; return 1 }
		b.ReportAllocs()
		for i := 0; i < b.N; i += 16 {
			for range 16 {
				if _, err := tx.SendWait(ctx, fill); err != nil {
					b.Fatal(err)
				}
			}
			for range 16 {
				if _, err := rx.RecvWait(ctx, read); err != nil {
					b.Fatal(err)
				}
			}
		}
		if want := next * (next - 1) / 2; sum != want {
			b.Fatalf("sum of items %d, want %d", sum, want)
		}
	})
	b.Run("put-get", func(b *testing.B) {
		tx, rx, err := fdring.New[uint64](1024)
		if err != nil {
			b.Fatal(err)
		}
		defer tx.Close()
		defer rx.Close()
		ctx := context.Background()
		var next, sum uint64
		b.ReportAllocs()
		for i := 0; i < b.N; i += 16 {
			for range 16 {
				if err := tx.Put(ctx, next); err != nil {
					b.Fatal(err)
				}
				next++
			}
			for range 16 {
				v, err := rx.Get(ctx)
				if err != nil {
					b.Fatal(err)
				}
				sum += v
			}
		}
		if want := next * (next - 1) / 2; sum != want {
			b.Fatalf("sum of items %d, want %d", sum, want)
		}
	})
}

// benchPutGet is u64/batch1 with the per-item calls.
func benchPutGet(b *testing.B) {
	tx, rx, err := fdring.New[uint64](1024)
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	ctx := context.Background()
	total := uint64(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for i := range total {
			if err := tx.Put(ctx, i); err != nil {
				panic(err)
			}
		}
		tx.Close()
	}()
	var sum uint64
	for range total {
		v, err := rx.Get(ctx)
		if err != nil {
			b.Fatal(err)
		}
		sum += v
	}
	b.StopTimer()
	if sum != total*(total-1)/2 {
		b.Fatalf("sum %d", sum)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
	reportSleeps(b, tx.Stats(), rx.Stats())
}

func benchRingU64(b *testing.B, batch int) {
	tx, rx, err := fdring.New[uint64](1024)
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	ctx := context.Background()
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
			if _, err := tx.SendWait(ctx, fill); err != nil {
				panic(err)
			}
		}
		tx.Close()
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
	for {
		if _, err := rx.RecvWait(ctx, read); err != nil {
			if err != io.EOF {
				b.Fatal(err)
			}
			break
		}
	}
	b.StopTimer()
	if got != total || sum != total*(total-1)/2 {
		b.Fatalf("got %d items, sum %d", got, sum)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
	reportSleeps(b, tx.Stats(), rx.Stats())
}

// reportSleeps reports how often a side slept on its fd, per item.
func reportSleeps(b *testing.B, tx, rx fdring.Stats) {
	b.ReportMetric(float64(tx.Waits+rx.Waits)/float64(b.N), "sleeps/op")
}

func benchChanU64(b *testing.B, batch int) {
	ch := make(chan uint64, 1024)
	total := uint64(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for i := uint64(0); i < total; {
			// A channel has no batch send: a batch is a loop of sends.
			for k := 0; k < batch && i < total; k++ {
				ch <- i
				i++
			}
		}
		close(ch)
	}()
	var got, sum uint64
	for v := range ch {
		sum += v
		got++
	}
	b.StopTimer()
	if got != total || sum != total*(total-1)/2 {
		b.Fatalf("got %d items, sum %d", got, sum)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// benchRingBytes: the producer copies each chunk in, the consumer copies it
// out (the same per-byte work as a pipe's write and read).
func benchRingBytes(b *testing.B, chunk int) {
	tx, rx, err := fdring.New[byte](1 << 20)
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	ctx := context.Background()
	src := make([]byte, chunk)
	dst := make([]byte, chunk)
	b.SetBytes(int64(chunk))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for range b.N {
			for off := 0; off < chunk; {
				n, err := tx.SendWait(ctx, func(f []byte) int { return copy(f, src[off:]) })
				if err != nil {
					panic(err)
				}
				off += n
			}
		}
		tx.Close()
	}()
	var total int64
	for {
		n, err := rx.RecvWait(ctx, func(d []byte) int { return copy(dst, d) })
		total += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if total != int64(b.N)*int64(chunk) {
		b.Fatalf("moved %d bytes", total)
	}
}

func benchPipeBytes(b *testing.B, chunk int) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	src := make([]byte, chunk)
	dst := make([]byte, chunk)
	b.SetBytes(int64(chunk))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for range b.N {
			if _, err := w.Write(src); err != nil {
				panic(err)
			}
		}
		w.Close()
	}()
	var total int64
	for {
		n, err := r.Read(dst)
		total += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if total != int64(b.N)*int64(chunk) {
		b.Fatalf("moved %d bytes", total)
	}
}
