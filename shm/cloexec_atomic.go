//go:build linux || freebsd || netbsd || openbsd || dragonfly

package shm

import "golang.org/x/sys/unix"

// These systems mark received fds close-on-exec inside recvmsg.
const (
	recvmsgFlags  = unix.MSG_CMSG_CLOEXEC
	atomicCloexec = true
)
