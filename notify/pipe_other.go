//go:build !linux

package notify

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// pipeFds makes a pipe and marks its ends close-on-exec under ForkLock, so
// no concurrent fork/exec inherits them.
func pipeFds() ([2]int, error) {
	var p [2]int
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	if err := unix.Pipe(p[:]); err != nil {
		return p, err
	}
	unix.CloseOnExec(p[0])
	unix.CloseOnExec(p[1])
	return p, nil
}
