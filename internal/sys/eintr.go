package sys

import "golang.org/x/sys/unix"

// IgnoringEINTR calls fn until it returns something other than EINTR, and
// returns that. This is where every package of fdring retries interrupted
// system calls.
func IgnoringEINTR(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}

// IgnoringEINTRValue is IgnoringEINTR for a call that also returns a value
// (a byte count, an fd): it calls fn until its error is not EINTR.
func IgnoringEINTRValue[T any](fn func() (T, error)) (T, error) {
	for {
		v, err := fn()
		if err != unix.EINTR {
			return v, err
		}
	}
}
