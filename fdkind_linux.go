package fdring

import (
	"fmt"
	"os"
	"strconv"
)

// checkEventfd verifies that fd, received from a peer, is an eventfd: a
// peer could otherwise hand us a socket or a pipe end and have our signals
// written elsewhere.
func checkEventfd(fd int) error {
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return nil // no /proc: the kernel's write semantics still hold
	}
	if target != "anon_inode:[eventfd]" {
		return fmt.Errorf("%w: fd is %q, want an eventfd", ErrHandshake, target)
	}
	return nil
}
