//go:build !linux

package shm

import (
	"errors"
	"fmt"
	"net"
)

// PeerCred needs SO_PEERCRED, which only Linux has. Elsewhere it returns an
// error wrapping errors.ErrUnsupported.
func PeerCred(conn *net.UnixConn) (pid, uid, gid int, err error) {
	return 0, 0, 0, fmt.Errorf("shm: SO_PEERCRED: %w", errors.ErrUnsupported)
}
