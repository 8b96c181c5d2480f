//go:build !linux

package notify

import "golang.org/x/sys/unix"

// recvDontwait receives into buf with MSG_DONTWAIT.
func recvDontwait(fd int, buf []byte) (int, error) {
	n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
	return n, err
}
