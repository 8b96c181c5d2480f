//go:build !linux

package handlers

// unixAbstract reports whether a unix socket address names an abstract
// socket. Only Linux has them: elsewhere "@name" is a path like any other.
func unixAbstract(address string) bool { return false }
