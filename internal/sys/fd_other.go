//go:build unix && !linux

package sys

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Without pipe2, SOCK_CLOEXEC and accept4 everywhere, the fd is made and
// marked close-on-exec under syscall.ForkLock (read-held), so no fork and
// exec through os/exec or syscall.ForkExec inherits it in between; then it
// is made non-blocking.

// Pipe returns a pipe (read end, write end) whose ends are non-blocking and
// close-on-exec.
func Pipe() ([2]int, error) {
	var p [2]int
	syscall.ForkLock.RLock()
	err := unix.Pipe(p[:])
	if err == nil {
		unix.CloseOnExec(p[0])
		unix.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return p, err
	}
	for _, fd := range p {
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return [2]int{-1, -1}, err
		}
	}
	return p, nil
}

// Socket creates a non-blocking close-on-exec socket.
func Socket(family, typ, proto int) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, typ, proto)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	return nonblocking(fd, err)
}

// Accept takes one pending connection off the listening socket fd as a
// non-blocking close-on-exec fd, retrying EINTR. EAGAIN means none is
// pending.
func Accept(fd int) (int, unix.Sockaddr, error) {
	syscall.ForkLock.RLock()
	a, err := IgnoringEINTRValue(func() (accepted, error) {
		nfd, sa, err := unix.Accept(fd)
		return accepted{nfd, sa}, err
	})
	if err == nil {
		unix.CloseOnExec(a.fd)
	}
	syscall.ForkLock.RUnlock()
	nfd, err := nonblocking(a.fd, err)
	if err != nil {
		return -1, nil, err
	}
	return nfd, a.sa, nil
}

// nonblocking makes fd (just created; err is its creation's error)
// non-blocking, closing it if that fails.
func nonblocking(fd int, err error) (int, error) {
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
