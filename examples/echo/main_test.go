package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"
)

func TestEchoServer(t *testing.T) {
	for _, balance := range []string{"round-robin", "least-conns"} {
		t.Run(balance, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			addrc := make(chan net.Addr, 1)
			done := make(chan error, 1)
			go func() { done <- serve(ctx, "127.0.0.1:0", 2, balance, func(a net.Addr) { addrc <- a }) }()
			var addr net.Addr
			select {
			case addr = <-addrc:
			case err := <-done:
				t.Fatal(err)
			}
			for i := range 4 {
				c, err := net.DialTimeout("tcp", addr.String(), 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(20 * time.Second))
				msg := bytes.Repeat([]byte{byte('a' + i)}, 100_000)
				go c.Write(msg)
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("conn %d: echo differs (%v)", i, err)
				}
				c.Close()
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve: %v", err)
			}
		})
	}
	if err := serve(context.Background(), "127.0.0.1:0", 1, "nope", func(net.Addr) {}); err == nil {
		t.Fatal("unknown balance accepted")
	}
}
