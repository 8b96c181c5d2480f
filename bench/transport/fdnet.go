package transport

import (
	"context"
	"fmt"
	"net"

	"github.com/fdring/fdring/fdnet"
)

// fdnetListen and fdnetDial are fdnet's cross-process constructors. Until
// fdnet has them, the fdnet transports report ErrUnavailable.
func fdnetListen(path string, opts ...fdnet.Option) (net.Listener, error) {
	_, _ = path, opts
	return nil, fmt.Errorf("fdnet.Listen: %w", ErrUnavailable)
}

func fdnetDial(ctx context.Context, path string, opts ...fdnet.Option) (net.Conn, error) {
	_, _, _ = ctx, path, opts
	return nil, fmt.Errorf("fdnet.Dial: %w", ErrUnavailable)
}
