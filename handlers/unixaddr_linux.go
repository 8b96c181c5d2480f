package handlers

// unixAbstract reports whether a unix socket address names Linux's abstract
// namespace ("@name", or a leading NUL): such a socket has no file.
func unixAbstract(address string) bool {
	return address != "" && (address[0] == '@' || address[0] == 0)
}
