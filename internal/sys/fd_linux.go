package sys

import "golang.org/x/sys/unix"

// Pipe returns a pipe (read end, write end) whose ends are non-blocking and
// close-on-exec from birth.
func Pipe() ([2]int, error) {
	var p [2]int
	err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK)
	return p, err
}

// Socket creates a non-blocking close-on-exec socket.
func Socket(family, typ, proto int) (int, error) {
	return unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
}

// Accept takes one pending connection off the listening socket fd as a
// non-blocking close-on-exec fd, retrying EINTR. EAGAIN means none is
// pending.
func Accept(fd int) (int, unix.Sockaddr, error) {
	a, err := IgnoringEINTRValue(func() (accepted, error) {
		nfd, sa, err := unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		return accepted{nfd, sa}, err
	})
	return a.fd, a.sa, err
}
