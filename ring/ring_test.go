package ring_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/fdring/fdring/ring"
)

// mem returns n bytes aligned to 128.
func mem(n int) []byte {
	b := make([]byte, n+128)
	off := int(128 - uintptr(unsafe.Pointer(&b[0]))%128)
	return b[off%128 : off%128+n]
}

func newRing[T any](t testing.TB, capacity int) *ring.Ring[T] {
	t.Helper()
	r, err := ring.Init[T](mem(ring.Size[T](capacity)), capacity)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLayout(t *testing.T) {
	type sample struct {
		A uint32
		B [3]uint16
		C float64
	}
	m := mem(ring.Size[sample](64))
	if _, err := ring.Init[sample](m, 64); err != nil {
		t.Fatal(err)
	}
	le := binary.NativeEndian
	checks := []struct {
		name string
		off  int
		size int
		want uint64
	}{
		{"magic", 0, 8, ring.Magic},
		{"version", 8, 4, uint64(ring.Version)},
		{"headerSize", 12, 4, 640},
		{"elemSize", 16, 4, uint64(unsafe.Sizeof(sample{}))},
		{"elemAlign", 20, 4, uint64(unsafe.Alignof(sample{}))},
		{"capacity", 24, 8, 64},
		{"fingerprint", 32, 8, ring.Fingerprint[sample]()},
		{"tail", 128, 8, 0},
		{"head", 256, 8, 0},
		{"rxState", 384, 4, 0},
		{"txState", 512, 4, 0},
	}
	exported := []int{ring.OffMagic, ring.OffVersion, ring.OffHeaderSize, ring.OffElemSize, ring.OffElemAlign,
		ring.OffCapacity, ring.OffFingerprint, ring.OffTail, ring.OffHead, ring.OffRxState, ring.OffTxState}
	for i, c := range checks {
		if exported[i] != c.off {
			t.Errorf("exported offset of %s = %d, the ABI says %d", c.name, exported[i], c.off)
		}
		var got uint64
		if c.size == 8 {
			got = le.Uint64(m[c.off:])
		} else {
			got = uint64(le.Uint32(m[c.off:]))
		}
		if got != c.want {
			t.Errorf("%s at %d = %#x, want %#x", c.name, c.off, got, c.want)
		}
	}
	if string(m[:6]) != "FDRING" {
		t.Errorf("magic bytes %q", m[:8])
	}
	if ring.HeaderSize != 640 || ring.Size[sample](64) != 640+64*24 {
		t.Errorf("HeaderSize %d, Size %d", ring.HeaderSize, ring.Size[sample](64))
	}
	// Publishing moves exactly the words the layout says.
	r, err := ring.Open[sample](m)
	if err != nil {
		t.Fatal(err)
	}
	r.Sender().Send(func(f []sample) int { return 3 })
	r.Receiver().Recv(func(d []sample) int { return 2 })
	if le.Uint64(m[ring.OffTail:]) != 3 || le.Uint64(m[ring.OffHead:]) != 2 {
		t.Errorf("tail/head words = %d/%d, want 3/2", le.Uint64(m[ring.OffTail:]), le.Uint64(m[ring.OffHead:]))
	}
	r.Receiver().Close()
	r.Sender().Close()
	if le.Uint32(m[ring.OffRxState:]) != 2 || le.Uint32(m[ring.OffTxState:]) != 2 {
		t.Errorf("state words after Close = %d/%d, want 2/2", le.Uint32(m[ring.OffRxState:]), le.Uint32(m[ring.OffTxState:]))
	}
}

func TestSizeAndCapacity(t *testing.T) {
	for _, c := range []int{0, -1, 3, 100, ring.MaxCapacity * 2} {
		if got := ring.Size[uint64](c); got != 0 {
			t.Errorf("Size(%d) = %d, want 0", c, got)
		}
		if _, err := ring.Init[uint64](mem(4096), c); !errors.Is(err, ring.ErrCapacity) {
			t.Errorf("Init(cap %d) = %v, want ErrCapacity", c, err)
		}
	}
	if got := ring.Size[uint64](1); got != 648 {
		t.Errorf("Size(1) = %d", got)
	}
	if got := ring.Size[struct{}](8); got != 0 {
		t.Errorf("Size of a zero-size type = %d", got)
	}
}

func TestTypeRejection(t *testing.T) {
	check := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, ring.ErrBadType) {
			t.Errorf("%s: err = %v, want ErrBadType", name, err)
		}
	}
	m := mem(1 << 16)
	_, err := ring.Init[*int](m, 8)
	check("pointer", err)
	_, err = ring.Init[string](m, 8)
	check("string", err)
	_, err = ring.Init[[]byte](m, 8)
	check("slice", err)
	_, err = ring.Init[map[int]int](m, 8)
	check("map", err)
	_, err = ring.Init[chan int](m, 8)
	check("chan", err)
	_, err = ring.Init[func()](m, 8)
	check("func", err)
	_, err = ring.Init[any](m, 8)
	check("interface", err)
	_, err = ring.Init[unsafe.Pointer](m, 8)
	check("unsafe.Pointer", err)
	_, err = ring.Init[struct{}](m, 8)
	check("zero size", err)
	type nested struct {
		A int
		B [2]struct {
			C uint8
			D *byte
		}
	}
	_, err = ring.Init[nested](m, 8)
	check("nested pointer", err)
	if err != nil && !strings.Contains(err.Error(), ".B[].D") {
		t.Errorf("error does not say where: %v", err)
	}
	_, err = ring.Open[string](m)
	check("open string", err)

	type ok struct {
		A [4]int32
		B complex128
		C bool
	}
	if _, err := ring.Init[ok](m, 8); err != nil {
		t.Errorf("pointer-free struct rejected: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	type a struct{ X, Y uint32 }
	type b struct{ X, Y uint32 } // same layout, other name: same
	type c struct{ Y, X uint32 } // names swapped: different
	type d struct {
		X uint32
		Y int32
	}
	if ring.Fingerprint[a]() != ring.Fingerprint[b]() {
		t.Error("identical layouts differ")
	}
	if ring.Fingerprint[a]() == ring.Fingerprint[c]() || ring.Fingerprint[a]() == ring.Fingerprint[d]() {
		t.Error("different layouts collide")
	}
	if ring.Fingerprint[[2]uint64]() == ring.Fingerprint[[4]uint32]() {
		t.Error("arrays of other shapes collide")
	}
}

func TestInitRejectsMemory(t *testing.T) {
	size := ring.Size[uint64](16)
	if _, err := ring.Init[uint64](mem(size-1), 16); !errors.Is(err, ring.ErrTooSmall) {
		t.Errorf("short: %v", err)
	}
	if _, err := ring.Init[uint64](nil, 16); !errors.Is(err, ring.ErrTooSmall) {
		t.Errorf("nil: %v", err)
	}
	m := mem(size + 8)
	if _, err := ring.Init[uint64](m[1:], 16); !errors.Is(err, ring.ErrAlignment) {
		t.Errorf("misaligned: %v", err)
	}
	if _, err := ring.Init[uint64](m[8:], 16); err != nil {
		t.Errorf("8-aligned rejected: %v", err)
	}
}

func TestOpenValidates(t *testing.T) {
	type pair struct{ A, B uint32 }
	const capacity = 16
	fresh := func() []byte {
		m := mem(ring.Size[uint64](capacity))
		if _, err := ring.Init[uint64](m, capacity); err != nil {
			t.Fatal(err)
		}
		return m
	}
	ne := binary.NativeEndian
	cases := []struct {
		name   string
		mutate func(m []byte) []byte
		want   error
	}{
		{"ok", func(m []byte) []byte { return m }, nil},
		{"magic", func(m []byte) []byte { m[0] ^= 1; return m }, ring.ErrBadMagic},
		{"zeroed", func(m []byte) []byte { clear(m); return m }, ring.ErrBadMagic},
		{"version", func(m []byte) []byte { ne.PutUint32(m[ring.OffVersion:], 2); return m }, ring.ErrVersion},
		{"headerSize", func(m []byte) []byte { ne.PutUint32(m[ring.OffHeaderSize:], 128); return m }, ring.ErrVersion},
		{"elemSize", func(m []byte) []byte { ne.PutUint32(m[ring.OffElemSize:], 4); return m }, ring.ErrTypeMismatch},
		{"elemAlign", func(m []byte) []byte { ne.PutUint32(m[ring.OffElemAlign:], 4); return m }, ring.ErrTypeMismatch},
		{"fingerprint", func(m []byte) []byte { m[ring.OffFingerprint] ^= 1; return m }, ring.ErrTypeMismatch},
		{"capacity not pow2", func(m []byte) []byte { ne.PutUint64(m[ring.OffCapacity:], 15); return m }, ring.ErrCapacity},
		{"capacity zero", func(m []byte) []byte { ne.PutUint64(m[ring.OffCapacity:], 0); return m }, ring.ErrCapacity},
		{"capacity huge", func(m []byte) []byte { ne.PutUint64(m[ring.OffCapacity:], 1<<63); return m }, ring.ErrCapacity},
		{"capacity beyond memory", func(m []byte) []byte { ne.PutUint64(m[ring.OffCapacity:], 32); return m }, ring.ErrTooSmall},
		{"truncated", func(m []byte) []byte { return m[:len(m)-8] }, ring.ErrTooSmall},
		{"header only", func(m []byte) []byte { return m[:ring.HeaderSize-1] }, ring.ErrTooSmall},
		{"tail past head+cap", func(m []byte) []byte { ne.PutUint64(m[ring.OffTail:], capacity+1); return m }, ring.ErrCorrupt},
		{"head past tail", func(m []byte) []byte { ne.PutUint64(m[ring.OffHead:], 1); return m }, ring.ErrCorrupt},
		{"rxState", func(m []byte) []byte { ne.PutUint32(m[ring.OffRxState:], 7); return m }, ring.ErrCorrupt},
		{"txState", func(m []byte) []byte { ne.PutUint32(m[ring.OffTxState:], 3); return m }, ring.ErrCorrupt},
		{"misaligned", func(m []byte) []byte {
			b := mem(len(m) + 4)[4:]
			copy(b, m)
			return b
		}, ring.ErrAlignment},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ring.Open[uint64](c.mutate(fresh()))
			if c.want == nil {
				if err != nil {
					t.Fatalf("Open = %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Open = %v, want %v", err, c.want)
			}
		})
	}
	if _, err := ring.Open[pair](fresh()); !errors.Is(err, ring.ErrTypeMismatch) {
		t.Errorf("Open with another type of the same size = %v", err)
	}
	if _, err := ring.Open[int64](fresh()); !errors.Is(err, ring.ErrTypeMismatch) {
		t.Errorf("Open int64 on a uint64 ring = %v", err)
	}
}

// TestWrapEveryPosition starts the ring at every offset and moves batches
// of every size across the end, checking values and the two-part split.
func TestWrapEveryPosition(t *testing.T) {
	const capacity = 16
	for start := range capacity {
		for batch := 1; batch <= capacity; batch++ {
			r := newRing[uint32](t, capacity)
			tx, rx := r.Sender(), r.Receiver()
			// Move start elements through to shift the indices.
			for range start {
				tx.Send(func(f []uint32) int { return 1 })
				rx.Recv(func(d []uint32) int { return 1 })
			}
			next, want := uint32(0), uint32(0)
			calls := 0
			for written := 0; written < batch; {
				n, _ := tx.Send(func(f []uint32) int {
					k := min(len(f), batch-written)
					for i := range k {
						f[i] = next
						next++
					}
					return k
				})
				if n == 0 {
					t.Fatalf("start %d batch %d: ring full early", start, batch)
				}
				written += n
				calls++
			}
			wantCalls := 1
			if start%capacity+batch > capacity {
				wantCalls = 2
			}
			if calls != wantCalls {
				t.Errorf("start %d batch %d: %d send calls, want %d", start, batch, calls, wantCalls)
			}
			for got := 0; got < batch; {
				n, _ := rx.Recv(func(d []uint32) int {
					for _, v := range d {
						if v != want {
							t.Fatalf("start %d batch %d: got %d want %d", start, batch, v, want)
						}
						want++
					}
					return len(d)
				})
				if n == 0 {
					t.Fatalf("start %d batch %d: empty after %d", start, batch, got)
				}
				got += n
			}
			if n, _ := rx.Recv(func(d []uint32) int { t.Fatal("read called on empty"); return 0 }); n != 0 {
				t.Fatal("data after draining")
			}
		}
	}
}

func TestFullAndEmpty(t *testing.T) {
	r := newRing[uint64](t, 8)
	tx, rx := r.Sender(), r.Receiver()
	if n, _ := rx.Recv(func([]uint64) int { t.Fatal("read on empty"); return 0 }); n != 0 {
		t.Fatal("recv on empty")
	}
	n, _ := tx.Send(func(f []uint64) int {
		if len(f) != 8 {
			t.Errorf("free = %d, want 8", len(f))
		}
		return len(f)
	})
	if n != 8 {
		t.Fatalf("sent %d", n)
	}
	if n, _ := tx.Send(func([]uint64) int { t.Fatal("fill on full"); return 0 }); n != 0 {
		t.Fatal("send on full")
	}
	if len(tx.Reserve()) != 0 || tx.Ready() {
		t.Fatal("full ring has room")
	}
	rx.Recv(func(d []uint64) int { return 3 })
	if !tx.Ready() || len(tx.Reserve()) != 3 {
		t.Fatal("room not seen after Recv")
	}
}

func TestReserveCommitPeekRelease(t *testing.T) {
	r := newRing[byte](t, 64)
	tx, rx := r.Sender(), r.Receiver()
	free := tx.Reserve()
	if len(free) != 64 {
		t.Fatalf("reserve %d", len(free))
	}
	copy(free, "hello, ring")
	if len(rx.Peek()) != 0 {
		t.Fatal("uncommitted data visible")
	}
	tx.Commit(5)
	data := rx.Peek()
	if string(data) != "hello" {
		t.Fatalf("peek %q", data)
	}
	rx.Release(2)
	if string(rx.Peek()) != "llo" {
		t.Fatal("release")
	}
	rx.Release(0)
	if rx.Received() != 2 || tx.Sent() != 5 {
		t.Fatalf("counts %d/%d", rx.Received(), tx.Sent())
	}
	mustPanic(t, "commit beyond reserve", func() { tx.Reserve(); tx.Commit(100) })
	mustPanic(t, "commit negative", func() { tx.Reserve(); tx.Commit(-1) })
	mustPanic(t, "commit without reserve", func() { tx.Commit(1) })
	mustPanic(t, "release beyond peek", func() { rx.Peek(); rx.Release(4) })
	if tx.Sent() != 5 || rx.Received() != 2 {
		t.Fatal("a panicking call published something")
	}
}

func TestBadCallbackCountPanics(t *testing.T) {
	r := newRing[uint64](t, 8)
	tx, rx := r.Sender(), r.Receiver()
	mustPanic(t, "fill too many", func() { tx.Send(func(f []uint64) int { return len(f) + 1 }) })
	mustPanic(t, "fill negative", func() { tx.Send(func(f []uint64) int { return -1 }) })
	if tx.Sent() != 0 {
		t.Fatal("bad fill published")
	}
	tx.Send(func(f []uint64) int { return 2 })
	mustPanic(t, "read too many", func() { rx.Recv(func(d []uint64) int { return 3 }) })
	mustPanic(t, "read negative", func() { rx.Recv(func(d []uint64) int { return -5 }) })
	if rx.Received() != 0 {
		t.Fatal("bad read released")
	}
	// The ring still works.
	if n, _ := rx.Recv(func(d []uint64) int { return len(d) }); n != 2 {
		t.Fatalf("recv after panics = %d", n)
	}
}

func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", name)
		}
	}()
	f()
}

// TestWakeOnlyWhenDeclared: no wake while the peer is awake; exactly one
// per declared sleep.
func TestWakeOnlyWhenDeclared(t *testing.T) {
	r := newRing[uint64](t, 4)
	tx, rx := r.Sender(), r.Receiver()
	for range 3 {
		if _, wake := tx.Send(func(f []uint64) int { return 1 }); wake {
			t.Fatal("wake while receiver awake")
		}
	}
	rx.Recv(func(d []uint64) int { return len(d) })
	if rx.Arm() {
		t.Fatal("Arm on an empty ring reported work")
	}
	if _, wake := tx.Send(func(f []uint64) int { return 1 }); !wake {
		t.Fatal("no wake for a sleeping receiver")
	}
	if _, wake := tx.Send(func(f []uint64) int { return 1 }); wake {
		t.Fatal("second wake for one sleep")
	}
	// Arm with data present does not sleep and leaves no flag behind.
	if !rx.Arm() {
		t.Fatal("Arm with data reported none")
	}
	if _, wake := tx.Send(func(f []uint64) int { return 1 }); wake {
		t.Fatal("wake after an Arm that found data")
	}
	// Producer side: fill, arm, receiver frees: one wake.
	tx.Send(func(f []uint64) int { return len(f) })
	if tx.Arm() {
		t.Fatal("Arm on a full ring reported room")
	}
	if _, wake := rx.Recv(func(d []uint64) int { return 1 }); !wake {
		t.Fatal("no wake for a sleeping sender")
	}
	if _, wake := rx.Recv(func(d []uint64) int { return 1 }); wake {
		t.Fatal("second wake for one sender sleep")
	}
	// Disarm withdraws.
	rx.Recv(func(d []uint64) int { return len(d) })
	if rx.Arm() {
		t.Fatal("arm")
	}
	rx.Disarm()
	if _, wake := tx.Send(func(f []uint64) int { return 1 }); wake {
		t.Fatal("wake after Disarm")
	}
}

func TestCloseSemantics(t *testing.T) {
	r := newRing[uint64](t, 8)
	tx, rx := r.Sender(), r.Receiver()
	tx.Send(func(f []uint64) int { f[0], f[1] = 7, 8; return 2 })
	if rx.Arm() != true {
		t.Fatal("data present")
	}
	if tx.Close() {
		t.Fatal("close woke an awake receiver")
	}
	if tx.Close() {
		t.Fatal("second close")
	}
	if !rx.SenderClosed() || rx.Done() {
		t.Fatal("closed with data must not be done")
	}
	n, _ := rx.Recv(func(d []uint64) int { return len(d) })
	if n != 2 || !rx.Done() {
		t.Fatalf("drained %d, done %v", n, rx.Done())
	}
	if !rx.Ready() || !rx.Arm() {
		t.Fatal("end of stream must be ready")
	}

	// Close wakes a sleeping receiver.
	r = newRing[uint64](t, 8)
	tx, rx = r.Sender(), r.Receiver()
	if rx.Arm() {
		t.Fatal("arm")
	}
	if !tx.Close() {
		t.Fatal("close did not wake a sleeping receiver")
	}
	if !rx.Done() {
		t.Fatal("not done")
	}

	// Receiver close stops the sender, and wakes it when it sleeps.
	r = newRing[uint64](t, 2)
	tx, rx = r.Sender(), r.Receiver()
	tx.Send(func(f []uint64) int { return len(f) })
	if tx.Arm() {
		t.Fatal("arm full")
	}
	if !rx.Close() {
		t.Fatal("receiver close did not wake the sleeping sender")
	}
	if !tx.ReceiverClosed() || !tx.Ready() || len(tx.Reserve()) != 0 {
		t.Fatal("sender does not see the receiver's close")
	}
	// A sender with room sees the close right after its next publish.
	r = newRing[uint64](t, 8)
	tx, rx = r.Sender(), r.Receiver()
	rx.Close()
	tx.Send(func(f []uint64) int { return 1 })
	if n, _ := tx.Send(func(f []uint64) int { return 1 }); n != 0 {
		t.Fatal("send after the receiver closed")
	}
}

// TestCorruptEveryWord overwrites each shared word of a live ring with
// hostile values. Neither side may panic or touch memory outside the ring;
// an inconsistent index must end in ErrCorrupt.
func TestCorruptEveryWord(t *testing.T) {
	const capacity = 8
	values := []uint64{0, 1, 2, 3, 7, capacity, capacity + 1, 1 << 31, 1<<32 - 1, 1 << 63, ^uint64(0), ^uint64(0) - capacity}
	offs := []int{ring.OffMagic, ring.OffVersion, ring.OffHeaderSize, ring.OffElemSize, ring.OffElemAlign,
		ring.OffCapacity, ring.OffFingerprint, ring.OffTail, ring.OffHead, ring.OffRxState, ring.OffTxState}
	for _, off := range offs {
		for _, v := range values {
			t.Run(fmt.Sprintf("off%d/%#x", off, v), func(t *testing.T) {
				// Guard bytes around the ring catch any stray write.
				all := mem(ring.Size[uint64](capacity) + 256)
				m := all[128 : 128+ring.Size[uint64](capacity)]
				for i := range all[:128] {
					all[i] = 0xAA
				}
				for i := range all[128+len(m):] {
					all[128+len(m)+i] = 0xAA
				}
				r, err := ring.Init[uint64](m, capacity)
				if err != nil {
					t.Fatal(err)
				}
				tx, rx := r.Sender(), r.Receiver()
				// The producer's cache says full, the consumer's says empty:
				// each side's next step reloads the word the peer owns.
				tx.Send(func(f []uint64) int { return len(f) })
				rx.Recv(func(d []uint64) int { return len(d) })
				if off == ring.OffRxState || off == ring.OffTxState || off == ring.OffVersion ||
					off == ring.OffHeaderSize || off == ring.OffElemSize || off == ring.OffElemAlign {
					binary.NativeEndian.PutUint32(m[off:], uint32(v))
				} else {
					binary.NativeEndian.PutUint64(m[off:], v)
				}
				rx.Ready()
				tx.Ready()
				for range 4 * capacity {
					tx.Send(func(f []uint64) int {
						if len(f) == 0 || len(f) > capacity {
							t.Fatalf("fill got %d elements", len(f))
						}
						return len(f)
					})
					rx.Recv(func(d []uint64) int {
						if len(d) == 0 || len(d) > capacity {
							t.Fatalf("read got %d elements", len(d))
						}
						return len(d)
					})
					tx.Ready()
					rx.Ready()
					rx.Done()
					tx.Arm()
					rx.Arm()
				}
				for i, b := range all[:128] {
					if b != 0xAA {
						t.Fatalf("guard byte %d before the ring overwritten", i)
					}
				}
				for i, b := range all[128+len(m):] {
					if b != 0xAA {
						t.Fatalf("guard byte %d after the ring overwritten", i)
					}
				}
				// Index words out of their range must be reported.
				// Valid: capacity <= tail <= 2*capacity, 0 <= head <= capacity.
				if off == ring.OffTail && (v < capacity || v > 2*capacity) || off == ring.OffHead && v > capacity {
					if !errors.Is(r.Err(), ring.ErrCorrupt) {
						t.Fatalf("Err = %v, want ErrCorrupt", r.Err())
					}
				}
				if (off == ring.OffRxState || off == ring.OffTxState) && uint32(v) > 2 {
					if !errors.Is(r.Err(), ring.ErrCorrupt) {
						t.Fatalf("Err = %v, want ErrCorrupt", r.Err())
					}
				}
				if err := r.Err(); err != nil {
					var ce *ring.CorruptError
					if !errors.As(err, &ce) || ce.What == "" {
						t.Fatalf("Err %v is not a CorruptError", err)
					}
					// Stopped sides stay stopped.
					if n, _ := tx.Send(func(f []uint64) int { return 1 }); n != 0 {
						if n2, _ := rx.Recv(func(d []uint64) int { return len(d) }); n2 != 0 {
							t.Fatal("both sides still move data after corruption")
						}
					}
				}
			})
		}
	}
}

// TestStress moves millions of sequenced items between two goroutines with
// random batch sizes, sleeping through Arm and a channel standing in for
// the fd, and checks order, count and a checksum.
func TestStress(t *testing.T) {
	total := uint64(3_000_000)
	if testing.Short() || raceEnabled {
		total = 500_000
	}
	r := newRing[uint64](t, 256)
	tx, rx := r.Sender(), r.Receiver()
	dataFd := make(chan struct{}, 1)  // "eventfd" the consumer sleeps on
	spaceFd := make(chan struct{}, 1) // "eventfd" the producer sleeps on
	signal := func(c chan struct{}) {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	deadline := time.After(60 * time.Second)
	var wg sync.WaitGroup
	var sum uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		next := uint64(0)
		for next < total {
			want := 1 + rng.IntN(300)
			n, wake := tx.Send(func(f []uint64) int {
				k := min(len(f), want, int(total-next))
				for i := range k {
					f[i] = next*2654435761 + 1
					next++
				}
				return k
			})
			if wake {
				signal(dataFd)
			}
			if n == 0 && !tx.Arm() {
				select {
				case <-spaceFd:
				case <-deadline:
					t.Error("producer stuck")
					return
				}
			}
		}
		if tx.Close() {
			signal(dataFd)
		}
	}()
	rng := rand.New(rand.NewPCG(3, 4))
	got := uint64(0)
	for {
		want := 1 + rng.IntN(300)
		n, wake := rx.Recv(func(d []uint64) int {
			k := min(len(d), want)
			for _, v := range d[:k] {
				if v != got*2654435761+1 {
					t.Fatalf("item %d = %d", got, v)
				}
				sum += v
				got++
			}
			return k
		})
		if wake {
			signal(spaceFd)
		}
		if n > 0 {
			continue
		}
		if rx.Done() {
			break
		}
		if !rx.Arm() {
			select {
			case <-dataFd:
			case <-deadline:
				t.Fatalf("consumer stuck at %d", got)
			}
		}
	}
	wg.Wait()
	var wantSum uint64
	for i := range total {
		wantSum += i*2654435761 + 1
	}
	if got != total || sum != wantSum {
		t.Fatalf("got %d items sum %d, want %d sum %d", got, sum, total, wantSum)
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
}

func TestNoAllocs(t *testing.T) {
	r := newRing[uint64](t, 1024)
	tx, rx := r.Sender(), r.Receiver()
	fill := func(f []uint64) int { f[0] = 1; return 1 }
	read := func(d []uint64) int { return len(d) }
	if a := testing.AllocsPerRun(1000, func() {
		tx.Send(fill)
		rx.Recv(read)
		tx.Commit(len(tx.Reserve()))
		rx.Release(len(rx.Peek()))
		rx.Arm()
		rx.Disarm()
	}); a != 0 {
		t.Fatalf("allocs per op = %v", a)
	}
}
