//go:build !linux

package shm

import (
	"errors"
	"fmt"
)

// Create needs memfd_create(2) and file seals, which only Linux has.
// Elsewhere it returns an error wrapping errors.ErrUnsupported.
func Create(name string, size int, opts ...Option) (*Region, error) {
	return nil, fmt.Errorf("shm: create %q: memfd: %w", name, errors.ErrUnsupported)
}

// Map needs file seals, which only Linux has. Elsewhere it returns an error
// wrapping errors.ErrUnsupported and leaves fd to the caller.
func Map(fd int, wantSize int, opts ...Option) (*Region, error) {
	return nil, fmt.Errorf("shm: map: memfd: %w", errors.ErrUnsupported)
}

// No Region exists on these platforms; these keep Region's methods compiling.
func replaceWithPrivate([]byte) error {
	return fmt.Errorf("shm: retire: %w", errors.ErrUnsupported)
}
func unmap([]byte) error { return fmt.Errorf("shm: munmap: %w", errors.ErrUnsupported) }
func closeFd(int) error  { return fmt.Errorf("shm: close: %w", errors.ErrUnsupported) }
