//go:build !linux

package fdring

import (
	"errors"
	"net"
)

// Cross-process channels need Linux (memfd, seals); elsewhere Dial and
// Accept fail before they get here.

func dupConnFd(*net.UnixConn) (int, error) { return -1, errors.ErrUnsupported }
