package fdnet_test

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"

	"golang.org/x/net/nettest"

	"github.com/fdring/fdring/fdnet"
)

// listen returns a Listener on a fresh socket path, closed when the test
// ends.
func listen(t testing.TB, opts ...fdnet.Option) *fdnet.Listener {
	t.Helper()
	l, err := fdnet.Listen(filepath.Join(t.TempDir(), "fdnet.sock"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// dialPair dials l and accepts the connection: a connected pair through a
// real socket and a real handshake, in this process.
func dialPair(t testing.TB, l *fdnet.Listener, opts ...fdnet.Option) (dialed, accepted *fdnet.Conn, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	type res struct {
		c   *fdnet.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.AcceptContext(ctx)
		ch <- res{c, err}
	}()
	d, err := fdnet.Dial(ctx, l.Addr().String(), opts...)
	r := <-ch
	if err != nil || r.err != nil {
		if d != nil {
			d.Close()
		}
		if r.c != nil {
			r.c.Close()
		}
		return nil, nil, errors.Join(err, r.err)
	}
	return d, r.c, nil
}

// TestNettestDial runs the x/net conformance suite on Dial/Accept pairs.
func TestNettestDial(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []fdnet.Option
	}{
		{"default", nil},
		{"small-nospin", []fdnet.Option{fdnet.WithBufferSize(1024), fdnet.WithSpin(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := listen(t, tc.opts...)
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				a, b, err := dialPair(t, l, tc.opts...)
				if err != nil {
					return nil, nil, nil, err
				}
				return a, b, func() { a.Close(); b.Close() }, nil
			})
		})
	}
}

// TestListenerAddrAndClose: the addresses name the socket path, and Close
// wakes a blocked Accept with net.ErrClosed.
func TestListenerAddrAndClose(t *testing.T) {
	l := listen(t)
	a, b, err := dialPair(t, l)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	for _, addr := range []net.Addr{l.Addr(), a.LocalAddr(), a.RemoteAddr(), b.LocalAddr(), b.RemoteAddr()} {
		if addr.Network() != "fdring" || addr.String() != l.Addr().String() {
			t.Fatalf("address %s %s, want fdring %s", addr.Network(), addr, l.Addr())
		}
	}
	if _, err := a.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	a.CloseWrite()
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "hello" {
		t.Fatalf("read %q, %v", got, err)
	}

	accepted := async(func() error { _, err := l.Accept(); return err })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := await(t, accepted); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if c, err := fdnet.Dial(ctx, l.Addr().String()); err == nil {
		c.Close()
		t.Fatal("Dial after the Listener closed succeeded")
	}
}
