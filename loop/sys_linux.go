//go:build linux

package loop

import "golang.org/x/sys/unix"

// socket creates a non-blocking close-on-exec socket.
func socket(family, typ, proto int) (int, error) {
	return unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
}

// accept takes one pending connection as a non-blocking close-on-exec fd.
func accept(fd int) (int, unix.Sockaddr, error) {
	a, err := eintr(func() (accepted, error) {
		nfd, sa, err := unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		return accepted{nfd, sa}, err
	})
	return a.fd, a.sa, err
}

// unixAbstract reports whether a unix socket address names Linux's abstract
// namespace (a leading '@', which x/sys/unix turns into the NUL the kernel
// reads, or that NUL itself). Such a socket has no file.
func unixAbstract(address string) bool {
	return address != "" && (address[0] == '@' || address[0] == 0)
}
