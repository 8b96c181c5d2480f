//go:build linux

package fdnet_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/fdnet"
)

// Child processes: the test binary re-executed with FDNET_CHILD set runs
// TestChildHelper as one of these modes, talking to the parent over the
// socket at FDNET_PATH and reporting progress as lines on stdout.
const (
	childEnv     = "FDNET_CHILD"
	childPathEnv = "FDNET_PATH"
	childBufSize = 64 << 10
)

func TestChildHelper(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("only runs as a child process")
	}
	os.Exit(runChild(mode, os.Getenv(childPathEnv)))
}

func runChild(mode, path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	if mode == "listen-commit" {
		// The other way round: the child listens, the parent dials.
		l, err := fdnet.Listen(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "listen:", err)
			return 2
		}
		fmt.Println("listening")
		c, err := l.AcceptContext(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "accept:", err)
			return 2
		}
		if _, err := io.Copy(c, newStream(9, childBufSize/2)); err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			return 3
		}
		fmt.Println("committed")
		<-ctx.Done()
		return 4
	}
	c, err := fdnet.Dial(ctx, path, fdnet.WithBufferSize(childBufSize))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		return 2
	}
	switch mode {
	case "commit-then-wait":
		// Half a ring: every byte is committed without a reader.
		if _, err := io.Copy(c, newStream(7, childBufSize/2)); err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			return 3
		}
		fmt.Println("committed")
		<-ctx.Done() // killed before this, without Close
		return 4
	case "stream":
		fmt.Println("streaming")
		_, err := io.Copy(c, newStream(8, 1<<40))
		fmt.Fprintln(os.Stderr, "write:", err)
		return 3
	case "idle":
		fmt.Println("connected")
		<-ctx.Done()
		return 4
	}
	return 100
}

// startChild runs the test binary in mode against path; the returned
// reader has its stdout. The child is killed when the test ends.
func startChild(t *testing.T, mode, path string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChildHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childPathEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewReader(out)
}

// expectLine reads the child's next line and fails unless it is want.
func expectLine(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	line := async(func() error {
		s, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if s = strings.TrimSpace(s); s != want {
			return fmt.Errorf("child said %q, want %q", s, want)
		}
		return nil
	})
	if err := await(t, line); err != nil {
		t.Fatal(err)
	}
}

// acceptChild accepts the child's connection.
func acceptChild(t *testing.T, l *fdnet.Listener) *fdnet.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := l.AcceptContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// kill SIGKILLs the child and reaps it.
func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

// checkPeerGone fails unless err is a read or write error wrapping
// fdring.ErrPeerGone.
func checkPeerGone(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, fdring.ErrPeerGone) {
		t.Fatalf("got %v, want an error wrapping fdring.ErrPeerGone", err)
	}
}

// TestChildKilledAfterCommit: a child writes half a ring and is killed
// without closing; the parent then reads every byte it committed, then an
// error wrapping ErrPeerGone.
func TestChildKilledAfterCommit(t *testing.T) {
	l := listen(t)
	cmd, out := startChild(t, "commit-then-wait", l.Addr().String())
	c := acceptChild(t, l)
	expectLine(t, out, "committed")
	kill(t, cmd)

	var got bytes.Buffer
	read := async(func() error { _, err := io.Copy(&got, c); return err })
	checkPeerGone(t, await(t, read))
	want, _ := io.ReadAll(newStream(7, childBufSize/2))
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read %d bytes, want the %d the child committed", got.Len(), len(want))
	}
	// Writing to the dead child fails too, at once or once the ring fills.
	write := async(func() error { _, err := c.ReadFrom(io.LimitReader(zeros{}, 4*childBufSize)); return err })
	checkPeerGone(t, await(t, write))
}

// TestChildKilledMidStream: the parent reads a child's endless stream and
// kills it mid-stream; every byte read is the stream's, and Read ends with
// ErrPeerGone, not a hang.
func TestChildKilledMidStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []fdnet.Option
	}{{"spin", nil}, {"nospin", []fdnet.Option{fdnet.WithSpin(0)}}} {
		t.Run(tc.name, func(t *testing.T) {
			l := listen(t, tc.opts...)
			cmd, out := startChild(t, "stream", l.Addr().String())
			c := acceptChild(t, l)
			expectLine(t, out, "streaming")
			want := newStream(8, 1<<40)
			buf, exp := make([]byte, 32<<10), make([]byte, 32<<10)
			var total int64
			check := func(n int) {
				want.Read(exp[:n])
				if !bytes.Equal(buf[:n], exp[:n]) {
					t.Fatalf("byte stream differs after %d bytes", total)
				}
				total += int64(n)
			}
			// Read a few rings' worth while the child writes, then kill it.
			for total < 4*childBufSize {
				n, err := c.Read(buf)
				if err != nil {
					t.Fatalf("read after %d bytes: %v", total, err)
				}
				check(n)
			}
			kill(t, cmd)
			rest := async(func() error {
				for range 1 << 20 { // bounded: at most a ring's worth arrives
					n, err := c.Read(buf)
					check(n)
					if err != nil {
						return err
					}
				}
				return errors.New("the stream never ended")
			})
			checkPeerGone(t, await(t, rest))
			t.Logf("read %d bytes before the child's death was reported", total)
		})
	}
}

// TestWriteToKilledChild: a Write blocked on a full ring to a child that
// reads nothing returns an error wrapping ErrPeerGone once the child is
// killed; later Writes fail at once.
func TestWriteToKilledChild(t *testing.T) {
	l := listen(t, fdnet.WithSpin(0))
	cmd, out := startChild(t, "idle", l.Addr().String())
	c := acceptChild(t, l)
	expectLine(t, out, "connected")
	base := writeSleeps(c)
	write := async(func() error {
		_, err := c.Write(make([]byte, 4*childBufSize))
		return err
	})
	waitSleeping(t, func() uint64 { return writeSleeps(c) }, base)
	start := time.Now()
	kill(t, cmd)
	checkPeerGone(t, await(t, write))
	t.Logf("the blocked Write returned %v after the kill", time.Since(start))
	if _, err := c.Write([]byte("x")); !errors.Is(err, fdring.ErrPeerGone) {
		t.Fatalf("Write after the death: %v", err)
	}
	// Read sees the death too (nothing was committed).
	n, err := c.Read(make([]byte, 1))
	if n != 0 {
		t.Fatalf("read %d bytes from a child that wrote nothing", n)
	}
	checkPeerGone(t, err)
}

// TestListenerKilled: the dialing side sees the listening process's death
// the same way: every byte it committed, then ErrPeerGone, on Read and on
// Write.
func TestListenerKilled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "child.sock")
	cmd, out := startChild(t, "listen-commit", path)
	expectLine(t, out, "listening")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := fdnet.Dial(ctx, path, fdnet.WithBufferSize(childBufSize))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expectLine(t, out, "committed")
	kill(t, cmd)
	var got bytes.Buffer
	read := async(func() error { _, err := io.Copy(&got, c); return err })
	checkPeerGone(t, await(t, read))
	want, _ := io.ReadAll(newStream(9, childBufSize/2))
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read %d bytes, want the %d the child committed", got.Len(), len(want))
	}
	write := async(func() error { _, err := c.ReadFrom(io.LimitReader(zeros{}, 4*childBufSize)); return err })
	checkPeerGone(t, await(t, write))
}
