//go:build !unix

package shm

import (
	"errors"
	"fmt"
	"net"
)

// SendFds needs SCM_RIGHTS, which only Unix has. Here it returns an error
// wrapping errors.ErrUnsupported.
func SendFds(conn *net.UnixConn, payload []byte, fds ...int) error {
	return fmt.Errorf("shm: sendmsg: SCM_RIGHTS: %w", errors.ErrUnsupported)
}

// RecvFds needs SCM_RIGHTS, which only Unix has. Here it returns an error
// wrapping errors.ErrUnsupported.
func RecvFds(conn *net.UnixConn, payload []byte, maxFds int) (n int, fds []int, err error) {
	return 0, nil, fmt.Errorf("shm: recvmsg: SCM_RIGHTS: %w", errors.ErrUnsupported)
}
