package ring_test

import (
	"encoding/binary"
	"testing"

	"github.com/fdring/fdring/ring"
)

// FuzzOpen: Open on arbitrary memory never panics, and a ring it accepts
// can be used from both sides without stepping outside the memory.
func FuzzOpen(f *testing.F) {
	good := mem(ring.Size[uint64](16))
	ring.Init[uint64](good, 16)
	f.Add(append([]byte(nil), good...))
	f.Add(make([]byte, 700))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := mem(len(b))
		copy(m, b)
		r, err := ring.Open[uint64](m)
		if err != nil {
			return
		}
		tx, rx := r.Sender(), r.Receiver()
		for range 3 {
			tx.Send(func(f []uint64) int {
				if len(f) > r.Cap() {
					t.Fatalf("free slice of %d > capacity %d", len(f), r.Cap())
				}
				return len(f)
			})
			rx.Recv(func(d []uint64) int {
				if len(d) > r.Cap() {
					t.Fatalf("data slice of %d > capacity %d", len(d), r.Cap())
				}
				return len(d)
			})
		}
	})
}

// FuzzHostileHeader interleaves ring operations with arbitrary writes into
// the shared header, as a hostile peer process would make them. The sides
// must never panic, never hand out a slice longer than the capacity, and
// never deliver an element that was not sent (every element sent is its
// own index, so a receiver reading garbage slots is detected as long as
// the ring did not report ErrCorrupt).
func FuzzHostileHeader(f *testing.F) {
	f.Add([]byte{0, 128, 5, 1, 2, 3}, uint8(3))
	f.Add([]byte{1, 0, 0, 255, 255, 255, 255, 255}, uint8(9))
	f.Add([]byte{2, 128, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(1))
	f.Fuzz(func(t *testing.T, script []byte, batch uint8) {
		const capacity = 8
		m := mem(ring.Size[uint64](capacity))
		r, err := ring.Init[uint64](m, capacity)
		if err != nil {
			t.Fatal(err)
		}
		tx, rx := r.Sender(), r.Receiver()
		words := []int{ring.OffTail, ring.OffHead, ring.OffRxState, ring.OffTxState, ring.OffCapacity, ring.OffMagic}
		var sent, got uint64
		tampered := false
		for len(script) > 0 {
			op := script[0]
			script = script[1:]
			switch op % 4 {
			case 0:
				tx.Send(func(f []uint64) int {
					k := min(len(f), int(batch%capacity)+1)
					for i := range k {
						f[i] = sent
						sent++
					}
					return k
				})
			case 1:
				rx.Recv(func(d []uint64) int {
					if len(d) > capacity {
						t.Fatalf("read got %d > capacity", len(d))
					}
					for _, v := range d {
						if !tampered && v != got {
							t.Fatalf("got %d, want %d", v, got)
						}
						got++
					}
					return len(d)
				})
			case 2:
				if len(script) < 9 {
					return
				}
				off := words[int(script[0])%len(words)]
				v := binary.LittleEndian.Uint64(script[1:9])
				script = script[9:]
				if off == ring.OffRxState || off == ring.OffTxState {
					binary.NativeEndian.PutUint32(m[off:], uint32(v))
				} else {
					binary.NativeEndian.PutUint64(m[off:], v)
				}
				tampered = true
			case 3:
				tx.Arm()
				rx.Arm()
				rx.Done()
				tx.Disarm()
				rx.Disarm()
			}
		}
	})
}
