package handlers

import (
	"fmt"
	"strings"
)

// evio's address syntax.
//
//	[network://]address[?option=value&...]
//
// network is tcp (the default when there is no "://"), tcp4, tcp6 or unix;
// evio's "-net" suffix (tcp-net: serve with the standard library) is
// accepted and means the same here. udp, udp4 and udp6 are evio networks
// this adapter does not serve: an error. Options after "?" are accepted and
// ignored: the one evio knows, reuseport, asks for several listening
// sockets, and this adapter has one listener per address that hands its
// connections to the loops of a Group.

// evioAddr is one parsed listening address.
type evioAddr struct {
	network string // "tcp", "tcp4", "tcp6" or "unix"
	address string // host:port, or a path for unix
}

// parseEvioAddr parses one address of ServeEvio.
func parseEvioAddr(s string) (evioAddr, error) {
	a := evioAddr{network: "tcp", address: s}
	if network, rest, ok := strings.Cut(s, "://"); ok {
		a.network, a.address = network, rest
	}
	a.network = strings.TrimSuffix(a.network, "-net")
	if q := strings.IndexByte(a.address, '?'); q >= 0 {
		a.address = a.address[:q]
	}
	switch a.network {
	case "tcp", "tcp4", "tcp6":
	case "unix":
		if a.address == "" {
			return evioAddr{}, fmt.Errorf("handlers: evio address %q: empty unix socket path", s)
		}
	case "udp", "udp4", "udp6":
		return evioAddr{}, fmt.Errorf("handlers: evio address %q: network %s not supported", s, a.network)
	case "":
		return evioAddr{}, fmt.Errorf("handlers: evio address %q: empty network", s)
	default:
		return evioAddr{}, fmt.Errorf("handlers: evio address %q: unknown network %q", s, a.network)
	}
	return a, nil
}
