package fdring_test

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/fdring/fdring"
)

func ExampleNew() {
	type sample struct {
		Seq   uint64
		Value float64
	}
	tx, rx, err := fdring.New[sample](1024)
	if err != nil {
		panic(err)
	}
	defer rx.Close()

	go func() {
		defer tx.Close() // the receiver drains, then sees io.EOF
		for seq := uint64(0); seq < 5; {
			// fill writes straight into ring memory and says how many.
			_, err := tx.SendWait(context.Background(), func(free []sample) int {
				n := 0
				for ; n < len(free) && seq < 5; n++ {
					free[n] = sample{Seq: seq, Value: float64(seq) / 2}
					seq++
				}
				return n
			})
			if err != nil {
				panic(err)
			}
		}
	}()

	var sum float64
	for {
		_, err := rx.RecvWait(context.Background(), func(data []sample) int {
			for _, s := range data {
				sum += s.Value
			}
			return len(data) // consumed all of it
		})
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
	}
	fmt.Println("sum:", sum)
	// Output: sum: 5
}

func ExampleSender_Send() {
	tx, rx, _ := fdring.New[uint32](8)
	defer tx.Close()
	defer rx.Close()

	// Send never blocks: it reports how many elements fill wrote, and
	// (0, nil) when the ring is full.
	for i := range 3 {
		n, err := tx.Send(func(free []uint32) int {
			k := min(len(free), 5)
			for j := range k {
				free[j] = uint32(i*10 + j)
			}
			return k
		})
		fmt.Println("sent", n, err)
	}
	// Recv never blocks either; it hands out the readable part of the
	// ring, in two calls when the data wraps around the end.
	n, _ := rx.Recv(func(data []uint32) int { fmt.Println(data); return len(data) })
	fmt.Println("received", n)
	// Output:
	// sent 5 <nil>
	// sent 3 <nil>
	// sent 0 <nil>
	// [0 1 2 3 4 10 11 12]
	// received 8
}

func ExampleNewWriter() {
	tx, rx, _ := fdring.New[byte](64)
	w, r := fdring.NewWriter(tx), fdring.NewReader(rx)
	go func() {
		// ReadFrom (what io.Copy uses for a source without WriteTo,
		// such as a file or a socket) reads straight into ring memory.
		w.ReadFrom(strings.NewReader(strings.Repeat("fdring ", 20)))
		w.Close()
	}()
	var sb strings.Builder
	n, err := io.Copy(&sb, r) // Reader.WriteTo: written straight from ring memory
	fmt.Println(n, err, strings.Count(sb.String(), "fdring"))
	// Output: 140 <nil> 20
}
