//go:build !linux

package fdring

import (
	"errors"
	"fmt"
	"net"
)

// Cross-process channels need Linux (memfd, seals); elsewhere Dial and
// Accept fail before they get here.

func wakePair() ([2]int, error) {
	return [2]int{-1, -1}, fmt.Errorf("socketpair: %w", errors.ErrUnsupported)
}

func checkWakeSocket(int) error { return fmt.Errorf("%w: %w", ErrHandshake, errors.ErrUnsupported) }

func dupConnFd(*net.UnixConn) (int, error) { return -1, errors.ErrUnsupported }

func shutRead(int) {}
