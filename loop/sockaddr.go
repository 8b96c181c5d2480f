package loop

import (
	"fmt"
	"net"
	"strconv"

	"golang.org/x/sys/unix"
)

// Conversions between net's addresses and x/sys/unix socket addresses.

func sockaddrToAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		zone := ""
		if a.ZoneId != 0 {
			zone = strconv.Itoa(int(a.ZoneId))
		}
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port, Zone: zone}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}

// resolveListen turns a network and address into a socket family, socket
// address and, for unix sockets with a file, the path to unlink on close.
func resolveListen(network, address string) (family int, sa unix.Sockaddr, path string, err error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		a, err := net.ResolveTCPAddr(network, address)
		if err != nil {
			return 0, nil, "", err
		}
		if ip4 := a.IP.To4(); network != "tcp6" && (a.IP == nil || ip4 != nil) {
			s := &unix.SockaddrInet4{Port: a.Port}
			if ip4 != nil {
				copy(s.Addr[:], ip4)
			}
			return unix.AF_INET, s, "", nil
		}
		s := &unix.SockaddrInet6{Port: a.Port}
		copy(s.Addr[:], a.IP.To16())
		if a.Zone != "" {
			if ifi, err := net.InterfaceByName(a.Zone); err == nil {
				s.ZoneId = uint32(ifi.Index)
			} else if n, err := strconv.Atoi(a.Zone); err == nil {
				s.ZoneId = uint32(n)
			}
		}
		return unix.AF_INET6, s, "", nil
	case "unix":
		return unix.AF_UNIX, &unix.SockaddrUnix{Name: address}, unixSocketFile(address), nil
	}
	return 0, nil, "", fmt.Errorf("unsupported network %q", network)
}

// unixSocketFile returns the file that binding a unix socket to address
// creates, which the listener removes on Close: "" for an abstract address
// and for the unnamed one, which have no file.
func unixSocketFile(address string) string {
	if address == "" || unixAbstract(address) {
		return ""
	}
	return address
}
