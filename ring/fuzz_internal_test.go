package ring

import (
	"encoding/binary"
	"testing"
	"unsafe"
)

// This fuzz target lives inside package ring, not ring_test: the fuzzer's
// coverage guidance only sees code compiled into the package under test,
// and a generic method instantiated from an external test package is
// compiled there, out of its sight.

// alignedMem returns n bytes aligned to 128.
func alignedMem(n int) []byte {
	b := make([]byte, n+128)
	off := int(128-uintptr(unsafe.Pointer(&b[0]))%128) % 128
	return b[off : off+n]
}

// FuzzOpen: Open on arbitrary memory never panics, and a ring it accepts
// can be used from both sides without stepping outside the memory.
func FuzzOpen(f *testing.F) {
	good := alignedMem(Size[uint64](16))
	Init[uint64](good, 16)
	f.Add(append([]byte(nil), good...))
	f.Add(make([]byte, 700))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := alignedMem(len(b))
		copy(m, b)
		r, err := Open[uint64](m)
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
	f.Add([]byte{4, 4, 5, 4, 3, 5, 5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5}, uint8(0))
	f.Add([]byte{4, 3, 2, 3, 0, 0, 0, 0, 1, 0, 0, 0, 5, 5, 4}, uint8(0))
	f.Fuzz(func(t *testing.T, script []byte, batch uint8) {
		const capacity = 8
		m := alignedMem(Size[uint64](capacity))
		r, err := Init[uint64](m, capacity)
		if err != nil {
			t.Fatal(err)
		}
		tx, rx := r.Sender(), r.Receiver()
		words := []int{OffTail, OffHead, OffRxState, OffTxState, OffCapacity, OffMagic}
		var sent, got uint64
		tampered := false
		for len(script) > 0 {
			op := script[0]
			script = script[1:]
			switch op % 6 {
			case 4:
				// One element, the way fdring's Put does it.
				if tx.TryPut(sent) {
					sent++
				} else if res := tx.Put(sent); res == OK || res == Wake {
					sent++
				}
			case 5:
				v, ok := rx.TryGet()
				if !ok {
					var res Result
					v, res = rx.Get(v)
					ok = res == OK || res == Wake
				}
				if ok {
					if !tampered && v != got {
						t.Fatalf("got %d, want %d", v, got)
					}
					got++
				}
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
				if off == OffRxState || off == OffTxState {
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
