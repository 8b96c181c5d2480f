//go:build !linux

package notify

import "golang.org/x/sys/unix"

// recvDontwait receives into buf with MSG_DONTWAIT.
func recvDontwait(fd int, buf []byte) (int, error) {
	n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
	return n, err
}

// drainPackets is drainCount's loop for datagram and seqpacket sockets
// where recvmmsg is not available.
func drainPackets(fd int) (bool, error) { return drainLoop(fd, kindPacket) }
