package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/fdring/fdring/handlers"
	"github.com/fdring/fdring/loop"
)

// TestEcho: several TCP clients at once, every byte verified.
func TestEcho(t *testing.T) {
	const (
		clients = 6
		size    = 1 << 20
	)
	l := newLoop(t)
	echo := handlers.NewEcho()
	ln, err := l.Listen("tcp", "127.0.0.1:0", echo)
	if err != nil {
		t.Fatal(err)
	}
	startLoop(t, l)
	addr := ln.Addr().String()

	var wg sync.WaitGroup
	errs := make(chan error, 2*clients)
	for i := range clients {
		c := dial(t, "tcp", addr)
		wg.Go(func() {
			buf := make([]byte, 32<<10)
			for off := int64(0); off < size; off += int64(len(buf)) {
				fillPattern(buf, off)
				if _, err := c.Write(buf); err != nil {
					errs <- fmt.Errorf("client %d: write: %w", i, err)
					return
				}
			}
		})
		wg.Go(func() {
			if err := readPattern(c, size); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
			c.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := echo.Bytes(); got != clients*size {
		t.Errorf("Bytes() = %d, want %d", got, clients*size)
	}
	if got := echo.Accepted(); got != clients {
		t.Errorf("Accepted() = %d, want %d", got, clients)
	}
}

// closeNotify is an Echo that reports each OnClose.
type closeNotify struct {
	*handlers.Echo
	closed chan struct{}
}

func (h closeNotify) OnClose(c *loop.Conn, err error) {
	h.Echo.OnClose(c, err)
	h.closed <- struct{}{}
}

// TestEchoGroup: one zero-value Echo serves two loops. Bytes is exact while
// connections are open (each loop counts its own), still exact after they
// all closed (the loops' counters retired), and counts on for new ones.
func TestEchoGroup(t *testing.T) {
	const (
		clients = 4
		size    = 64 << 10
	)
	g, err := loop.NewGroup(2)
	if err != nil {
		t.Fatal(err)
	}
	h := closeNotify{Echo: new(handlers.Echo), closed: make(chan struct{}, clients+1)}
	ln, err := g.Listen("tcp", "127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := recv(t, runErr, "the group to stop"); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("group Run: %v", err)
		}
		g.Close()
	})
	addr := ln.Addr().String()

	// echoOnce sends n patterned bytes on c and reads their echo.
	echoOnce := func(c net.Conn, n int64) {
		buf := make([]byte, n)
		fillPattern(buf, 0)
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if err := readPattern(c, n); err != nil {
			t.Fatal(err)
		}
	}
	conns := make([]net.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, "tcp", addr)
		echoOnce(conns[i], size)
	}
	if got := h.Bytes(); got != clients*size {
		t.Errorf("Bytes() = %d with the connections open, want %d", got, clients*size)
	}
	if got := h.Conns(); got != clients {
		t.Errorf("Conns() = %d, want %d", got, clients)
	}
	for _, c := range conns {
		c.Close()
	}
	for range clients {
		recv(t, h.closed, "OnClose")
	}
	if got := h.Bytes(); got != clients*size {
		t.Errorf("Bytes() = %d after the connections closed, want %d", got, clients*size)
	}
	if got := h.Conns(); got != 0 {
		t.Errorf("Conns() = %d after the connections closed, want 0", got)
	}
	echoOnce(dial(t, "tcp", addr), 1000)
	if got := h.Bytes(); got != clients*size+1000 {
		t.Errorf("Bytes() = %d after one more connection, want %d", got, clients*size+1000)
	}
	if got := h.Accepted(); got != clients+1 {
		t.Errorf("Accepted() = %d, want %d", got, clients+1)
	}
}
