package notify

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvDontwait receives into buf with MSG_DONTWAIT and no source address:
// the raw call, since unix.Recvfrom allocates the address it returns.
func recvDontwait(fd int, buf []byte) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(buf))),
		uintptr(len(buf)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// packetBatch is how many messages one recvmmsg takes.
const packetBatch = 16

// drainPackets empties a datagram or seqpacket socket with recvmmsg(2),
// MSG_DONTWAIT: one syscall for a queue of up to packetBatch messages (a
// wakeup is one message, and a waiter usually finds one), where recv would
// need a second call to learn that the queue is empty. A message of zero
// bytes is end of file (a hung-up peer; our peers never send one): it
// reports ErrHangup.
func drainPackets(fd int) (bool, error) {
	var (
		bufs [packetBatch][8]byte // wakeups are one byte; longer ones are cut
		iov  [packetBatch]unix.Iovec
		hdrs [packetBatch]unix.Mmsghdr
	)
	for i := range hdrs {
		iov[i].Base = &bufs[i][0]
		iov[i].SetLen(len(bufs[i]))
		hdrs[i].Hdr.Iov = &iov[i]
		hdrs[i].Hdr.Iovlen = 1
	}
	got := false
	for range maxDrainReads / packetBatch {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&hdrs[0])),
			packetBatch, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return got, nil
		case unix.ECONNRESET:
			return got, ErrHangup
		default:
			return got, e
		}
		for i := range int(n) {
			if hdrs[i].Len == 0 {
				return got, ErrHangup
			}
		}
		got = got || n > 0
		if int(n) < packetBatch {
			return got, nil
		}
	}
	return got, nil
}
