package fdring

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// wakePair returns a connected pair of SOCK_SEQPACKET unix sockets,
// close-on-exec, for the wakeups of one direction.
func wakePair() ([2]int, error) {
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return p, fmt.Errorf("socketpair: %w", err)
	}
	return p, nil
}

// checkWakeSocket verifies that fd, received from a peer, is a connected
// unix SOCK_SEQPACKET socket: a peer could otherwise hand us a pipe, a
// file or an eventfd whose mode and counter it controls.
func checkWakeSocket(fd int) error {
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return fmt.Errorf("%w: wakeup fd is not a socket: %w", ErrHandshake, err)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || dom != unix.AF_UNIX || typ != unix.SOCK_SEQPACKET {
		return fmt.Errorf("%w: wakeup fd is a socket of domain %d type %d, want a unix seqpacket socket", ErrHandshake, dom, typ)
	}
	if _, err := unix.Getpeername(fd); err != nil {
		return fmt.Errorf("%w: wakeup socket not connected: %w", ErrHandshake, err)
	}
	return nil
}

// dupConnFd returns a close-on-exec duplicate of conn's fd, ours to keep
// after conn is closed.
func dupConnFd(conn *net.UnixConn) (int, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("dup: %w", derr)
	}
	return fd, nil
}

// shutRead shuts fd, a socket of ours, for reading: it then reports end of
// file to every waiter.
func shutRead(fd int) { unix.Shutdown(fd, unix.SHUT_RD) }
