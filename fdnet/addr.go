package fdnet

import "net"

// network is the name Addr.Network and every *net.OpError report.
const network = "fdring"

var _ net.Addr = Addr{}

// Addr is the address of a Conn or Listener: the unix socket path the
// connection was set up through, or "pipe" for a Pipe.
type Addr struct {
	// Path is the unix socket path, or "pipe".
	Path string
}

// Network returns "fdring".
func (Addr) Network() string { return network }

// String returns the socket path ("pipe" for a Pipe).
func (a Addr) String() string { return a.Path }

// pipeAddr is both ends' address of a Pipe.
var pipeAddr net.Addr = Addr{Path: "pipe"}
