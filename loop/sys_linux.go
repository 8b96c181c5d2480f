//go:build linux

package loop

// unixAbstract reports whether a unix socket address names Linux's abstract
// namespace (a leading '@', which x/sys/unix turns into the NUL the kernel
// reads, or that NUL itself). Such a socket has no file.
func unixAbstract(address string) bool {
	return address != "" && (address[0] == '@' || address[0] == 0)
}
