//go:build unix && !(linux || freebsd || netbsd || openbsd || dragonfly)

package shm

// These systems lack MSG_CMSG_CLOEXEC: RecvFds sets FD_CLOEXEC itself,
// under syscall.ForkLock.
const (
	recvmsgFlags  = 0
	atomicCloexec = false
)
