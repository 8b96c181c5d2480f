//go:build linux

package fdnet_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/fdnet"
)

// TestSilentFloodHoldsUpNobody backs the package's claim that a silent
// dialer holds up nobody with more silent dialers than the Listener reads
// first messages from at once (64): a well-behaved Dial still completes
// well before fdring.HandshakeTimeout, when the silent ones would have
// freed the Listener by themselves.
func TestSilentFloodHoldsUpNobody(t *testing.T) {
	l := listen(t)
	path := l.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), fdring.HandshakeTimeout/2)
	defer cancel()
	accepted := make(chan *fdnet.Conn, 1)
	acceptErr := async(func() error {
		c, err := l.AcceptContext(ctx)
		accepted <- c
		return err
	})
	for range 100 {
		c, err := net.Dial("unixpacket", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	a, err := fdnet.Dial(ctx, path)
	if err != nil {
		t.Fatalf("a well-behaved dialer behind 100 silent ones: %v", err)
	}
	defer a.Close()
	if err := await(t, acceptErr); err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	defer b.Close()
	a.SetDeadline(time.Now().Add(testTimeout))
	b.SetDeadline(time.Now().Add(testTimeout))
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
}
