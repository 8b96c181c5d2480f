package ring

import (
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// The shared header is an ABI between processes, possibly built from
// different binaries. Every offset is fixed (a compile-time check below and
// TestLayout pin them), every word is native-endian (both processes run on
// one machine), and the two indices and two state words each sit on their
// own 128-byte line (two 64-byte lines, because adjacent-line prefetchers
// pair them) whatever the architecture's cache line size:
//
//	offset  size  field        written by
//	     0     8  magic        Init (last, atomically: Open sees all or nothing)
//	     8     4  version      Init
//	    12     4  headerSize   Init (= 640, the data offset)
//	    16     4  elemSize     Init
//	    20     4  elemAlign    Init
//	    24     8  capacity     Init (a power of two, in elements)
//	    32     8  fingerprint  Init (hash of T's layout, see types.go)
//	    40    88  reserved, zero
//	   128     8  tail         producer
//	   256     8  head         consumer
//	   384     4  rxState      consumer (0 running, 1 waiting, 2 closed); producer CAS 1->0
//	   512     4  txState      producer (0 running, 1 waiting, 2 closed); consumer CAS 1->0
//	   640        data: capacity elements of T
//
// The indices count elements since Init and never wrap in practice (2^64
// elements); the slot of index i is i & (capacity-1).
type header struct {
	magic       uint64
	version     uint32
	headerSize  uint32
	elemSize    uint32
	elemAlign   uint32
	capacity    uint64
	fingerprint uint64
	_           [128 - 40]byte
	tail        atomic.Uint64
	_           [128 - 8]byte
	head        atomic.Uint64
	_           [128 - 8]byte
	rxState     atomic.Uint32
	_           [128 - 4]byte
	txState     atomic.Uint32
	_           [128 - 4]byte
}

const (
	// Magic is the first word of every ring: "FDRING" then a NUL and 0x01.
	Magic uint64 = 0x0100474e49524446
	// Version is the layout version this package writes and accepts.
	Version uint32 = 1

	headerSize = 640

	// MaxCapacity bounds the capacity in elements (and Size stays far from
	// overflowing an int).
	MaxCapacity = 1 << 40

	stateRunning uint32 = 0
	stateWaiting uint32 = 1
	stateClosed  uint32 = 2
)

// HeaderSize is the number of bytes before the first element.
const HeaderSize = headerSize

// Offsets of the header's words, as drawn above: the ABI, for tools and
// tests that inspect a mapping. TestLayout pins them.
const (
	OffMagic       = 0
	OffVersion     = 8
	OffHeaderSize  = 12
	OffElemSize    = 16
	OffElemAlign   = 20
	OffCapacity    = 24
	OffFingerprint = 32
	OffTail        = 128
	OffHead        = 256
	OffRxState     = 384
	OffTxState     = 512
)

// The header layout is an ABI: a drift of any offset or of the size from
// the constants above is a compile error, not a silent incompatibility.
// Each pair converts a difference and its negation to uint: a constant
// that does not fit (a negative one) does not compile, so both compile
// only when the two sides are equal.
const (
	_ = uint(unsafe.Sizeof(header{}) - headerSize)
	_ = uint(headerSize - unsafe.Sizeof(header{}))
	_ = uint(unsafe.Offsetof(header{}.version) - OffVersion)
	_ = uint(OffVersion - unsafe.Offsetof(header{}.version))
	_ = uint(unsafe.Offsetof(header{}.headerSize) - OffHeaderSize)
	_ = uint(OffHeaderSize - unsafe.Offsetof(header{}.headerSize))
	_ = uint(unsafe.Offsetof(header{}.elemSize) - OffElemSize)
	_ = uint(OffElemSize - unsafe.Offsetof(header{}.elemSize))
	_ = uint(unsafe.Offsetof(header{}.elemAlign) - OffElemAlign)
	_ = uint(OffElemAlign - unsafe.Offsetof(header{}.elemAlign))
	_ = uint(unsafe.Offsetof(header{}.capacity) - OffCapacity)
	_ = uint(OffCapacity - unsafe.Offsetof(header{}.capacity))
	_ = uint(unsafe.Offsetof(header{}.fingerprint) - OffFingerprint)
	_ = uint(OffFingerprint - unsafe.Offsetof(header{}.fingerprint))
	_ = uint(unsafe.Offsetof(header{}.tail) - OffTail)
	_ = uint(OffTail - unsafe.Offsetof(header{}.tail))
	_ = uint(unsafe.Offsetof(header{}.head) - OffHead)
	_ = uint(OffHead - unsafe.Offsetof(header{}.head))
	_ = uint(unsafe.Offsetof(header{}.rxState) - OffRxState)
	_ = uint(OffRxState - unsafe.Offsetof(header{}.rxState))
	_ = uint(unsafe.Offsetof(header{}.txState) - OffTxState)
	_ = uint(OffTxState - unsafe.Offsetof(header{}.txState))
	// "FDRING" in the magic's first six bytes, little-endian.
	_ = uint(Magic&0xffffffffffff - 0x474e49524446)
	_ = uint(0x474e49524446 - Magic&0xffffffffffff)
)

// Size returns the number of bytes of memory a ring of capacity elements of
// T needs, or 0 if capacity is not a power of two in 1..MaxCapacity or T is
// not a valid element type.
func Size[T any](capacity int) int {
	var zero T
	es := unsafe.Sizeof(zero)
	if es == 0 || checkCapacity(capacity) != nil {
		return 0
	}
	if uint64(capacity) > (1<<62)/uint64(es) {
		return 0
	}
	return headerSize + capacity*int(es)
}

func checkCapacity(capacity int) error {
	if capacity <= 0 || capacity > MaxCapacity || bits.OnesCount64(uint64(capacity)) != 1 {
		return fmt.Errorf("%w: %d (want a power of two in 1..%d)", ErrCapacity, capacity, MaxCapacity)
	}
	return nil
}

// Init lays out a new, empty ring of capacity elements of T in mem and
// returns it. mem must be at least Size[T](capacity) bytes and aligned to 8
// bytes (128 avoids false sharing with neighbouring data); T must hold no
// pointers. Init overwrites whatever mem held.
func Init[T any](mem []byte, capacity int) (*Ring[T], error) {
	desc, err := describe[T]()
	if err != nil {
		return nil, fmt.Errorf("ring: init: %w", err)
	}
	if err := checkCapacity(capacity); err != nil {
		return nil, fmt.Errorf("ring: init: %w", err)
	}
	need := Size[T](capacity)
	if need == 0 {
		return nil, fmt.Errorf("ring: init: %w: %d elements of %d bytes", ErrCapacity, capacity, desc.size)
	}
	h, err := headerOf(mem, need, desc)
	if err != nil {
		return nil, fmt.Errorf("ring: init: %w", err)
	}
	atomic.StoreUint64(&h.magic, 0)
	clear(mem[8:headerSize])
	h.version = Version
	h.headerSize = headerSize
	h.elemSize = uint32(desc.size)
	h.elemAlign = uint32(desc.align)
	h.capacity = uint64(capacity)
	h.fingerprint = desc.fingerprint
	atomic.StoreUint64(&h.magic, Magic)

	r := new(Ring[T])
	r.init(h, mem[:need], uint64(capacity), 0, 0)
	return r, nil
}

// Open attaches to a ring that Init laid out in mem, typically a mapping
// shared with the process that called Init. It validates every header field
// against T and len(mem) and never trusts them afterwards.
func Open[T any](mem []byte) (*Ring[T], error) {
	desc, err := describe[T]()
	if err != nil {
		return nil, fmt.Errorf("ring: open: %w", err)
	}
	h, err := headerOf(mem, headerSize, desc)
	if err != nil {
		return nil, fmt.Errorf("ring: open: %w", err)
	}
	if m := atomic.LoadUint64(&h.magic); m != Magic {
		return nil, fmt.Errorf("ring: open: %w: %#x", ErrBadMagic, m)
	}
	// Read each word once: a hostile peer may change them under us.
	version := atomic.LoadUint32(&h.version)
	hsize := atomic.LoadUint32(&h.headerSize)
	esize := atomic.LoadUint32(&h.elemSize)
	ealign := atomic.LoadUint32(&h.elemAlign)
	capacity := atomic.LoadUint64(&h.capacity)
	fp := atomic.LoadUint64(&h.fingerprint)
	switch {
	case version != Version:
		return nil, fmt.Errorf("ring: open: %w: layout version %d, this package speaks %d", ErrVersion, version, Version)
	case hsize != headerSize:
		return nil, fmt.Errorf("ring: open: %w: header size %d, want %d", ErrVersion, hsize, headerSize)
	case uintptr(esize) != desc.size || uintptr(ealign) != desc.align:
		return nil, fmt.Errorf("ring: open: %w: element size/align %d/%d, %s is %d/%d",
			ErrTypeMismatch, esize, ealign, desc.name, desc.size, desc.align)
	case fp != desc.fingerprint:
		return nil, fmt.Errorf("ring: open: %w: fingerprint %#x, %s is %#x", ErrTypeMismatch, fp, desc.name, desc.fingerprint)
	}
	if capacity > MaxCapacity {
		return nil, fmt.Errorf("ring: open: %w: %d", ErrCapacity, capacity)
	}
	if err := checkCapacity(int(capacity)); err != nil {
		return nil, fmt.Errorf("ring: open: %w", err)
	}
	need := Size[T](int(capacity))
	if need == 0 || len(mem) < need {
		return nil, fmt.Errorf("ring: open: %w: %d bytes for %d elements of %d bytes, have %d",
			ErrTooSmall, need, capacity, desc.size, len(mem))
	}
	// Load once, validate, use these values: a peer may change the words
	// between two loads.
	head, tail := h.head.Load(), h.tail.Load()
	if tail-head > capacity {
		return nil, fmt.Errorf("ring: open: %w: head %d tail %d capacity %d", ErrCorrupt, head, tail, capacity)
	}
	if rx, tx := h.rxState.Load(), h.txState.Load(); rx > stateClosed || tx > stateClosed {
		return nil, fmt.Errorf("ring: open: %w: states %d/%d", ErrCorrupt, rx, tx)
	}
	r := new(Ring[T])
	r.init(h, mem[:need], capacity, head, tail)
	return r, nil
}

// headerOf checks that mem can hold need bytes and is aligned for the header
// and for T, and returns the header view.
func headerOf(mem []byte, need int, desc typeDesc) (*header, error) {
	if len(mem) < need {
		return nil, fmt.Errorf("%w: have %d bytes, need %d", ErrTooSmall, len(mem), need)
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	if align := max(8, desc.align); base%align != 0 {
		return nil, fmt.Errorf("%w: memory at %#x is not %d-byte aligned", ErrAlignment, base, align)
	}
	// SAFETY: mem holds at least headerSize bytes (need >= headerSize),
	// starts 8-byte aligned as the atomic words require, and header holds
	// no pointers, so viewing those bytes as a header is sound for as long
	// as mem is alive.
	return (*header)(unsafe.Pointer(unsafe.SliceData(mem))), nil
}
