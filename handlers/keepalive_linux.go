package handlers

import (
	"time"

	"golang.org/x/sys/unix"
)

// setKeepAlive turns TCP keep-alive on with period d (whole seconds, at
// least one), like evio's Options.TCPKeepAlive.
func setKeepAlive(fd int, d time.Duration) error {
	secs := max(int((d+time.Second-1)/time.Second), 1)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return err
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs); err != nil {
		return err
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs)
}
