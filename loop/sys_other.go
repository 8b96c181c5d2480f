//go:build unix && !linux

package loop

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Without epoll, poll(2) is the default backend.
func newDefaultPoller(maxEvents int) (poller, error) { return newPollPoller(maxEvents), nil }

// socket creates a non-blocking close-on-exec socket. ForkLock keeps a
// concurrent fork from inheriting the fd before it is marked close-on-exec.
func socket(family, typ, proto int) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, typ, proto)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// accept takes one pending connection as a non-blocking close-on-exec fd.
func accept(fd int) (int, unix.Sockaddr, error) {
	syscall.ForkLock.RLock()
	a, err := eintr(func() (accepted, error) {
		nfd, sa, err := unix.Accept(fd)
		return accepted{nfd, sa}, err
	})
	nfd, sa := a.fd, a.sa
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, nil, err
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, nil, err
	}
	return nfd, sa, nil
}

// unixAbstract reports whether a unix socket address names an abstract
// socket, which has no file. Only Linux has them: elsewhere "@name" is a
// path like any other.
func unixAbstract(address string) bool { return false }
