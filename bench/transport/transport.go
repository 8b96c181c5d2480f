// Package transport names the byte-stream transports the conn suite, the
// gRPC tests and the grpcipc example run over, so that one server and one
// client are written once and measured or tested over each:
//
//	fdnet       fdnet.Listen / fdnet.Dial with fdnet's defaults
//	fdnet-spin  the same with fdnet.WithSpin(Spin) on both ends
//	unixsocket  net.Listen("unix") / net.Dialer over a socket path
//	tcp         net.Listen("tcp", "127.0.0.1:0") / net.Dialer
//
// A server calls Listen in its process, hands the returned address to the
// client (on the command line, a pipe, ...), and the client calls Dial in
// its own. Each Listen takes a directory private to the caller for the
// socket path (tcp ignores it).
package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/fdring/fdring/fdnet"
)

// Spin is how long fdnet-spin's Reads and Writes poll their ring before
// they sleep: far above a spinning hand-off (well under a microsecond on
// near CPUs), far below a sleeping one (tens of microseconds here).
const Spin = 50 * time.Microsecond

// Errors, errors.Is-able.
var (
	// ErrUnknown: no transport has that name.
	ErrUnknown = errors.New("transport: unknown transport")
)

// Transport is one way to connect a client to a server.
type Transport struct {
	// Name is one of Names.
	Name string
	// Listen listens for connections, with its socket (if any) in dir,
	// and returns the listener and the address Dial takes.
	Listen func(dir string) (net.Listener, string, error)
	// Dial connects to the address Listen returned. It returns when ctx
	// ends, at the latest.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

// Names lists the transports, fdnet's first.
func Names() []string { return []string{"fdnet", "fdnet-spin", "unixsocket", "tcp"} }

// socketName is the file a Listen makes in its directory.
const socketName = "conn.sock"

// Get returns the transport called name.
func Get(name string) (Transport, error) {
	switch name {
	case "fdnet", "fdnet-spin":
		var opts []fdnet.Option
		if name == "fdnet-spin" {
			opts = append(opts, fdnet.WithSpin(Spin))
		}
		return Transport{
			Name: name,
			Listen: func(dir string) (net.Listener, string, error) {
				path := filepath.Join(dir, socketName)
				ln, err := fdnet.Listen(path, opts...)
				if err != nil {
					return nil, "", fmt.Errorf("transport %s: listen: %w", name, err)
				}
				return ln, path, nil
			},
			Dial: func(ctx context.Context, addr string) (net.Conn, error) {
				c, err := fdnet.Dial(ctx, addr, opts...)
				if err != nil {
					return nil, fmt.Errorf("transport %s: dial: %w", name, err)
				}
				return c, nil
			},
		}, nil
	case "unixsocket", "tcp":
		network := "unix"
		if name == "tcp" {
			network = "tcp"
		}
		return Transport{
			Name: name,
			Listen: func(dir string) (net.Listener, string, error) {
				addr := "127.0.0.1:0"
				if network == "unix" {
					addr = filepath.Join(dir, socketName)
				}
				ln, err := net.Listen(network, addr)
				if err != nil {
					return nil, "", fmt.Errorf("transport %s: listen: %w", name, err)
				}
				return ln, ln.Addr().String(), nil
			},
			Dial: func(ctx context.Context, addr string) (net.Conn, error) {
				var d net.Dialer
				c, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, fmt.Errorf("transport %s: dial: %w", name, err)
				}
				return c, nil
			},
		}, nil
	}
	return Transport{}, fmt.Errorf("%w %q (want one of %v)", ErrUnknown, name, Names())
}
