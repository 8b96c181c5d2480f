//go:build unix

package shm

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// The fd numbers here are made up and never closed.
func TestParseRights(t *testing.T) {
	two := unix.UnixRights(100, 101)
	one := unix.UnixRights(102)

	fds, err := parseRights(slices.Concat(two, one))
	if err != nil || !slices.Equal(fds, []int{100, 101, 102}) {
		t.Errorf("two messages: %v, %v", fds, err)
	}

	// A header that claims more bytes than there are: the fds before it
	// come back with the error, so RecvFds can close them.
	fds, err = parseRights(slices.Concat(two, one[:unix.CmsgLen(4)-2]))
	if err == nil || !slices.Equal(fds, []int{100, 101}) {
		t.Errorf("malformed second message: %v, %v; want [100 101] and an error", fds, err)
	}

	// Trailing bytes too short for a header are ignored.
	fds, err = parseRights(slices.Concat(one, []byte{1, 2, 3}))
	if err != nil || !slices.Equal(fds, []int{102}) {
		t.Errorf("trailing bytes: %v, %v", fds, err)
	}

	if fds, err := parseRights(nil); err != nil || fds != nil {
		t.Errorf("empty: %v, %v", fds, err)
	}
}
