package ring

import (
	"errors"
	"fmt"
)

// Errors returned by Init and Open, and reported by Err. Each is wrapped
// with the operation and the offending values; test with errors.Is.
var (
	// ErrCorrupt: the shared state was inconsistent (an index out of
	// range, an unknown state word). The side that saw it stops for good.
	ErrCorrupt = errors.New("ring: corrupt shared state")
	// ErrTypeMismatch: the element type's size, alignment or layout
	// fingerprint differs from the ring's.
	ErrTypeMismatch = errors.New("ring: element type mismatch")
	// ErrBadType: the element type holds pointers (pointer, string,
	// slice, map, chan, func, interface) or has size zero, so it cannot
	// live in memory shared with another process.
	ErrBadType = errors.New("ring: element type not allowed")
	// ErrBadMagic: the memory does not start with a ring header.
	ErrBadMagic = errors.New("ring: bad magic")
	// ErrVersion: the header's layout version or size is not this
	// package's.
	ErrVersion = errors.New("ring: unsupported layout version")
	// ErrTooSmall: the memory is shorter than the ring needs.
	ErrTooSmall = errors.New("ring: memory too small")
	// ErrAlignment: the memory is not aligned for the header or T.
	ErrAlignment = errors.New("ring: memory misaligned")
	// ErrCapacity: the capacity is not a power of two in 1..MaxCapacity.
	ErrCapacity = errors.New("ring: invalid capacity")
)

// CorruptError describes the first inconsistency a side saw. It matches
// ErrCorrupt with errors.Is.
type CorruptError struct {
	What   string // the shared word: "head", "tail", "rxState", "txState"
	Got    uint64 // the value read
	Lo, Hi uint64 // the range it had to be in
}

// Error says which word held which value, and the range it had to be in.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("ring: corrupt shared state: %s = %d, want %d..%d", e.What, e.Got, e.Lo, e.Hi)
}

// Is reports whether target is ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
