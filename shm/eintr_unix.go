//go:build unix

package shm

import (
	"errors"

	"golang.org/x/sys/unix"
)

// ignoringEINTR calls fn until it fails with something other than EINTR.
// It is the one place this package retries interrupted system calls.
func ignoringEINTR(fn func() error) error {
	for {
		err := fn()
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
