package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/fdring/fdring/fdnet"
)

const testTimeout = 30 * time.Second

// start runs serve with cfg until the returned cancel; done gets its
// result, out its summary.
func start(t *testing.T, cfg config) (tcp, ipc net.Addr, out *bytes.Buffer, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	type addrs struct{ tcp, ipc net.Addr }
	addrc := make(chan addrs, 1)
	errc := make(chan error, 1)
	out = new(bytes.Buffer)
	go func() {
		errc <- serve(ctx, cfg, out, func(tcp, ipc net.Addr) { addrc <- addrs{tcp, ipc} })
	}()
	select {
	case a := <-addrc:
		return a.tcp, a.ipc, out, cancel, errc
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(testTimeout):
		t.Fatal("the server did not start")
	}
	return nil, nil, nil, nil, nil
}

// echoes sends msg on c from one goroutine and checks the echo, byte for
// byte, on another; the channel gets two results.
func echoes(c net.Conn, msg []byte) <-chan error {
	errc := make(chan error, 2)
	c.SetDeadline(time.Now().Add(testTimeout))
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
			errc <- fmt.Errorf("echo differs")
			return
		}
		errc <- nil
	}()
	return errc
}

func TestEchoServer(t *testing.T) {
	for _, balance := range []string{"round-robin", "least-conns"} {
		t.Run(balance, func(t *testing.T) {
			tcp, ipc, out, cancel, done := start(t, config{addr: "127.0.0.1:0", loops: 2, balance: balance})
			if ipc != nil {
				t.Fatal("an fdnet address without -ipc")
			}
			for i := range 4 {
				c, err := net.DialTimeout("tcp", tcp.String(), 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				errc := echoes(c, bytes.Repeat([]byte{byte('a' + i)}, 100_000))
				for range 2 {
					if err := <-errc; err != nil {
						t.Fatalf("conn %d: %v", i, err)
					}
				}
				c.Close()
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve: %v", err)
			}
			if want := "echo: shut down after 4 connections, 400000 bytes echoed\n"; out.String() != want {
				t.Fatalf("summary %q, want %q", out.String(), want)
			}
		})
	}
	if err := serve(context.Background(), config{addr: "127.0.0.1:0", loops: 1, balance: "nope"}, io.Discard, func(net.Addr, net.Addr) {}); err == nil {
		t.Fatal("unknown balance accepted")
	}
}

// TestEchoServerIPC: with -ipc, a TCP client and an fdnet client at the
// same time, on the same loops and handler; the fdnet client's message is
// larger than its rings, so the echo backs up and backpressure works.
func TestEchoServerIPC(t *testing.T) {
	path := filepath.Join(t.TempDir(), "echo.sock")
	tcp, ipc, out, cancel, done := start(t, config{addr: "127.0.0.1:0", ipc: path, loops: 2, balance: "round-robin"})
	if ipc == nil || ipc.String() != path {
		t.Fatalf("fdnet address %v, want %s", ipc, path)
	}
	tc, err := net.DialTimeout("tcp", tcp.String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	ctx, cancelDial := context.WithTimeout(context.Background(), testTimeout)
	defer cancelDial()
	fc, err := fdnet.Dial(ctx, path, fdnet.WithBufferSize(16<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	const tcpSize, ipcSize = 300_000, 1 << 20
	tmsg, fmsg := bytes.Repeat([]byte("tcp!"), tcpSize/4), make([]byte, ipcSize)
	for i := range fmsg {
		fmsg[i] = byte(i*7 + i>>11)
	}
	terr, ferr := echoes(tc, tmsg), echoes(fc, fmsg)
	for range 2 {
		if err := <-terr; err != nil {
			t.Fatalf("tcp: %v", err)
		}
		if err := <-ferr; err != nil {
			t.Fatalf("fdnet: %v", err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if want := fmt.Sprintf("echo: shut down after 2 connections, %d bytes echoed\n", tcpSize+ipcSize); out.String() != want {
		t.Fatalf("summary %q, want %q", out.String(), want)
	}
	// The server closed the fdnet client's connection on the way out.
	fc.SetDeadline(time.Now().Add(testTimeout))
	if _, err := fc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("fdnet client Read after shutdown = %v, want io.EOF", err)
	}
}
