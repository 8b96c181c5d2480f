package shm

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// PeerCred returns the process id, user id and group id of the process at
// the other end of conn (SO_PEERCRED), as they were when that process
// connected or created the socket pair. Use it to refuse peers of another
// user before trusting anything they send.
func PeerCred(conn *net.UnixConn) (pid, uid, gid int, err error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("shm: SO_PEERCRED: %w", err)
	}
	var (
		cred    *unix.Ucred
		credErr error
	)
	err = rc.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err == nil {
		err = credErr
	}
	if err != nil {
		return 0, 0, 0, fmt.Errorf("shm: getsockopt(SO_PEERCRED): %w", err)
	}
	return int(cred.Pid), int(cred.Uid), int(cred.Gid), nil
}
