package fdring

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

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
