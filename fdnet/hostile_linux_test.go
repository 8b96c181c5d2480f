//go:build linux

package fdnet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/fdnet"
)

// TestAcceptSkipsBadDialers: a dialer that connects and says nothing, and
// one that sends garbage, neither block Accept nor make it fail: the next
// well-behaved dialer is accepted, and the bad ones are told.
func TestAcceptSkipsBadDialers(t *testing.T) {
	l := listen(t)
	path := l.Addr().String()
	silent, err := net.Dial("unixpacket", path)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	garbage, err := net.Dial("unixpacket", path)
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	garbage.SetDeadline(time.Now().Add(testTimeout))
	if _, err := garbage.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}

	// One Accept call sees the garbage first: it must answer it and go
	// on to the next dialer without returning.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	accepted := make(chan *fdnet.Conn, 1)
	acceptErr := async(func() error {
		c, err := l.AcceptContext(ctx)
		accepted <- c
		return err
	})
	if _, err := garbage.Read(make([]byte, 64)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the garbage dialer was never answered")
	}
	a, err := fdnet.Dial(ctx, path)
	if err != nil {
		t.Fatalf("a well-behaved dialer behind bad ones: %v", err)
	}
	defer a.Close()
	if err := await(t, acceptErr); err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	defer b.Close()
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
	if n := fdnet.Rejected(l); n < 1 {
		t.Fatalf("%d handshakes rejected, want at least the garbage one", n)
	}
}

// TestDialWrongListener: Dial to a socket nobody listens on, or to a
// one-way fdring listener, fails with a clear error.
func TestDialWrongListener(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	if _, err := fdnet.Dial(ctx, dir+"/nobody.sock"); err == nil {
		t.Fatal("Dial to no listener succeeded")
	}
	fl, err := fdring.Listen(dir + "/oneway.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	accepted := async(func() error {
		rx, err := fdring.AcceptContext[byte](ctx, fl)
		if err == nil {
			rx.Close()
		}
		return err
	})
	_, err = fdnet.Dial(ctx, dir+"/oneway.sock")
	if !errors.Is(err, fdring.ErrKindMismatch) {
		t.Fatalf("Dial to a one-way listener: %v", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("Dial error %T, want *net.OpError", err)
	}
	if err := await(t, accepted); !errors.Is(err, fdring.ErrKindMismatch) {
		t.Fatalf("one-way Accept: %v", err)
	}
	if _, err := fdnet.Dial(ctx, dir+"/x.sock", fdnet.WithBufferSize(0)); err == nil {
		t.Fatal("Dial with a zero buffer size succeeded")
	}
}

// TestConcurrentDials: several dialers at once, each echoed by its own
// server goroutine, every byte checked.
func TestConcurrentDials(t *testing.T) {
	const dialers, size = 8, 1 << 20
	l := listen(t)
	var wg sync.WaitGroup
	defer wg.Wait()
	served := async(func() error {
		for range dialers {
			c, err := l.Accept()
			if err != nil {
				return err
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c) // echo until the dialer's CloseWrite
			}()
		}
		return nil
	})
	errs := make(chan error, dialers)
	for i := range dialers {
		go func() {
			errs <- func() error {
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				defer cancel()
				c, err := fdnet.Dial(ctx, l.Addr().String(), fdnet.WithBufferSize(16<<10))
				if err != nil {
					return err
				}
				defer c.Close()
				wrote := async(func() error {
					_, err := io.Copy(c, newStream(uint64(i), size))
					return errors.Join(err, c.CloseWrite())
				})
				var got bytes.Buffer
				if _, err := io.Copy(&got, c); err != nil {
					return err
				}
				if err := <-wrote; err != nil {
					return err
				}
				want, _ := io.ReadAll(newStream(uint64(i), size))
				if !bytes.Equal(got.Bytes(), want) {
					return fmt.Errorf("dialer %d: echo of %d bytes differs", i, got.Len())
				}
				return nil
			}()
		}()
	}
	for range dialers {
		if err := await(t, errs); err != nil {
			t.Fatal(err)
		}
	}
	if err := await(t, served); err != nil {
		t.Fatal(err)
	}
}
