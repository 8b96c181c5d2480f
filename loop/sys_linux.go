//go:build linux

package loop

import "golang.org/x/sys/unix"

// pollRDHUP asks poll(2) to report a peer's half-close (its FIN) as a
// hangup, as the epoll backend does with EPOLLRDHUP.
const pollRDHUP = unix.POLLRDHUP

// unixAbstract reports whether a unix socket address names Linux's abstract
// namespace (a leading '@', which x/sys/unix turns into the NUL the kernel
// reads, or that NUL itself). Such a socket has no file.
func unixAbstract(address string) bool {
	return address != "" && (address[0] == '@' || address[0] == 0)
}
