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
