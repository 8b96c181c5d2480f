//go:build linux

package handlers_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/fdnet"
	"github.com/fdring/fdring/loop"
)

// The child process: the test binary re-executed with childEnv set to the
// socket path runs TestFdnetChild, which dials the parent, sends
// childHello, says "sent" on stdout and waits to be killed.
const (
	childEnv   = "FDRING_HANDLERS_FDNET_CHILD"
	childHello = "hello from the child"
)

func TestFdnetChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("only runs as a child process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	c, err := fdnet.Dial(ctx, path, fdnet.WithBufferSize(4096))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	if _, err := c.Write([]byte(childHello)); err != nil {
		fmt.Fprintln(os.Stderr, "write:", err)
		os.Exit(3)
	}
	fmt.Println("sent")
	<-ctx.Done() // killed before this, without Close
	os.Exit(4)
}

// recorder is a ConnHandler that collects what it reads and reports when
// it has want bytes, and its close.
type recorder struct {
	want   int
	got    []byte // loop goroutine only
	full   chan string
	closed chan error
}

func (r *recorder) OnOpen(*loop.Conn) {}

func (r *recorder) OnData(_ *loop.Conn, data []byte) {
	r.got = append(r.got, data...)
	if len(r.got) == r.want {
		r.full <- string(r.got)
	}
}

func (r *recorder) OnClose(_ *loop.Conn, err error) { r.closed <- err }

// TestServeFdnetPeerDeath: a client process killed while its connection is
// served on a loop: the loop delivers what it sent, then closes the Conn
// with fdring.ErrPeerGone.
func TestServeFdnetPeerDeath(t *testing.T) {
	l := newLoop(t)
	startLoop(t, l)
	ln := listenFdnet(t)
	h := &recorder{want: len(childHello), full: make(chan string, 1), closed: make(chan error, 1)}
	served := serveFdnet(t, l, ln, h)

	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFdnetChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+ln.Addr().String())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	if s := recv(t, line, "the child's report"); s != "sent" {
		t.Fatalf("child said %q, want sent", s)
	}
	if got := recv(t, h.full, "the child's bytes"); got != childHello {
		t.Fatalf("the Conn read %q, want %q", got, childHello)
	}
	select {
	case err := <-h.closed:
		t.Fatalf("OnClose(%v) while the child lives", err)
	default:
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if err := recv(t, h.closed, "OnClose after the child's death"); !errors.Is(err, fdring.ErrPeerGone) {
		t.Fatalf("OnClose(%v), want fdring.ErrPeerGone", err)
	}
	ln.Close()
	if err := recv(t, served, "ServeFdnet"); err != nil {
		t.Fatal(err)
	}
}
