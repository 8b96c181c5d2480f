package fdnet_test

import (
	"net"
	"testing"

	"golang.org/x/net/nettest"

	"github.com/fdring/fdring/fdnet"
)

// TestNettest runs the x/net conformance suite for net.Conn on Pipe pairs:
// the default configuration, and small rings that never spin (every wait
// sleeps on its fd, every large write wraps the ring many times).
func TestNettest(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []fdnet.Option
	}{
		{"default", nil},
		{"small-nospin", []fdnet.Option{fdnet.WithBufferSize(1024), fdnet.WithSpin(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				a, b, err := fdnet.Pipe(tc.opts...)
				if err != nil {
					return nil, nil, nil, err
				}
				return a, b, func() { a.Close(); b.Close() }, nil
			})
		})
	}
}
