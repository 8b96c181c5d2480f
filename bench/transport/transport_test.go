package transport_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/fdring/fdring/bench/transport"
)

// TestTransports: every transport connects a client to a server in this
// process and carries bytes both ways.
func TestTransports(t *testing.T) {
	for _, name := range transport.Names() {
		t.Run(name, func(t *testing.T) {
			tr, err := transport.Get(name)
			if err != nil {
				t.Fatal(err)
			}
			ln, addr, err := tr.Listen(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			echoed := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					echoed <- err
					return
				}
				defer c.Close()
				_, err = io.Copy(c, c) // until the client's CloseWrite
				echoed <- err
			}()
			c, err := tr.Dial(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if dl, ok := ctx.Deadline(); ok {
				c.SetDeadline(dl)
			}
			msg := []byte("over " + name)
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c)
			if err != nil || string(got) != string(msg) {
				t.Fatalf("echo %q, %v; want %q", got, err, msg)
			}
			if err := <-echoed; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUnknown(t *testing.T) {
	if _, err := transport.Get("carrier-pigeon"); !errors.Is(err, transport.ErrUnknown) {
		t.Fatalf("%v, want ErrUnknown", err)
	}
}

// TestDialNobody: a Dial to an address nobody listens on fails, promptly.
func TestDialNobody(t *testing.T) {
	for _, name := range []string{"fdnet", "unixsocket"} {
		tr, err := transport.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, err := tr.Dial(ctx, t.TempDir()+"/nobody.sock")
		cancel()
		if err == nil {
			c.Close()
			t.Errorf("%s: Dial to nobody succeeded", name)
		}
	}
}

// TestPipeListener: Dial hands Accept the other end; after Close both
// fail with net.ErrClosed; a Dial nobody accepts ends with its context.
func TestPipeListener(t *testing.T) {
	ln := transport.NewPipeListener()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	a, err := ln.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	var buf [1]byte
	if _, err := io.ReadFull(b, buf[:]); err != nil || buf[0] != 'x' {
		t.Fatalf("read %q, %v", buf[:], err)
	}
	a.Close()
	b.Close()

	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := ln.Dial(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial with nobody accepting: %v, want DeadlineExceeded", err)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ln.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if _, err := ln.Dial(ctx); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Dial after Close: %v", err)
	}
}
