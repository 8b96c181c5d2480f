package sys

import "golang.org/x/sys/unix"

// accepted is what accept(2) returns, as one value for IgnoringEINTRValue.
type accepted struct {
	fd int
	sa unix.Sockaddr
}
