//go:build unix && !linux

package handlers

import (
	"time"

	"golang.org/x/sys/unix"
)

// setKeepAlive turns TCP keep-alive on. The period is left to the system
// here: the option naming it differs between the BSDs.
func setKeepAlive(fd int, d time.Duration) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
}
