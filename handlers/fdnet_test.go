package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/fdring/fdring/fdnet"
	"github.com/fdring/fdring/handlers"
	"github.com/fdring/fdring/loop"
)

// serveFdnet runs ServeFdnet on its own goroutine; the returned channel
// gets its result once ln is closed.
func serveFdnet(t *testing.T, dst handlers.RingConnAdder, ln *fdnet.Listener, h loop.ConnHandler) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- handlers.ServeFdnet(dst, ln, h) }()
	return done
}

func listenFdnet(t *testing.T) *fdnet.Listener {
	t.Helper()
	ln, err := fdnet.Listen(filepath.Join(t.TempDir(), "fdnet.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// echoThrough writes msg on c from one goroutine and reads the echo on
// another; the channel gets nil once every byte came back equal.
func echoThrough(c net.Conn, msg []byte) <-chan error {
	errc := make(chan error, 2)
	c.SetDeadline(time.Now().Add(timeout))
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	go func() {
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			errc <- err
			return
		}
		if !bytes.Equal(got, msg) {
			errc <- errors.New("echo differs")
			return
		}
		errc <- nil
	}()
	return errc
}

// TestServeFdnet: one Group and one Echo serve a TCP client and two fdnet
// clients at once, each sending more than its ring holds.
func TestServeFdnet(t *testing.T) {
	g, err := loop.NewGroup(2)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	echo := handlers.NewEcho()
	tln, err := g.Listen("tcp", "127.0.0.1:0", echo)
	if err != nil {
		t.Fatal(err)
	}
	ln := listenFdnet(t)
	served := serveFdnet(t, g, ln, echo)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	runc := make(chan error, 1)
	go func() { runc <- g.Run(ctx) }()

	const size = 1 << 20
	tc := dial(t, "tcp", tln.Addr().String())
	var conns []net.Conn
	conns = append(conns, tc)
	for range 2 {
		fc, err := fdnet.Dial(ctx, ln.Addr().String(), fdnet.WithBufferSize(16<<10))
		if err != nil {
			t.Fatal(err)
		}
		defer fc.Close()
		conns = append(conns, fc)
	}
	var errcs []<-chan error
	for i, c := range conns {
		msg := make([]byte, size)
		fillPattern(msg, int64(i)*size)
		errcs = append(errcs, echoThrough(c, msg))
	}
	for _, errc := range errcs {
		for range 2 {
			if err := recv(t, errc, "echo"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range conns {
		c.Close()
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, served, "ServeFdnet"); err != nil {
		t.Fatalf("ServeFdnet after the listener closed = %v, want nil", err)
	}
	g.Stop()
	if err := recv(t, runc, "Group.Run"); err != nil {
		t.Fatal(err)
	}
	if n := echo.Accepted(); n != 3 {
		t.Errorf("Accepted = %d, want 3", n)
	}
	if n := echo.Bytes(); n != 3*size {
		t.Errorf("Bytes = %d, want %d", n, 3*size)
	}
}

// TestServeFdnetClosedLoop: a closed loop refuses the connection;
// ServeFdnet closes it and fails with loop.ErrClosed.
func TestServeFdnetClosedLoop(t *testing.T) {
	l := newLoop(t)
	l.Close()
	ln := listenFdnet(t)
	served := serveFdnet(t, l, ln, handlers.NewEcho())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := fdnet.Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := recv(t, served, "ServeFdnet"); !errors.Is(err, loop.ErrClosed) {
		t.Fatalf("ServeFdnet on a closed loop = %v, want loop.ErrClosed", err)
	}
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the refused client's Read = %v, want io.EOF", err)
	}
	if err := handlers.ServeFdnet(nil, ln, handlers.NewEcho()); err == nil {
		t.Fatal("ServeFdnet with a nil loop succeeded")
	}
}
