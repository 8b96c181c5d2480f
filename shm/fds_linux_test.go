package shm_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/fdring/fdring/shm"
	"golang.org/x/sys/unix"
)

func pipe2(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	return p[0], p[1]
}

func TestSendRecvFds(t *testing.T) {
	for _, typ := range []struct {
		name string
		typ  int
	}{{"stream", unix.SOCK_STREAM}, {"seqpacket", unix.SOCK_SEQPACKET}} {
		t.Run(typ.name, func(t *testing.T) {
			a, b := socketpair(t, typ.typ)
			region, err := shm.Create("send", 4096)
			if err != nil {
				t.Fatal(err)
			}
			defer region.Close()
			fill(region.Bytes(), 6)
			pr, pw := pipe2(t)
			defer unix.Close(pr)
			defer unix.Close(pw)

			payload := []byte("hello, fds")
			if err := shm.SendFds(a, payload, region.Fd(), pr, pw); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			n, fds, err := shm.RecvFds(b, buf, 8)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:n], payload) {
				t.Errorf("payload %q, want %q", buf[:n], payload)
			}
			if len(fds) != 3 {
				t.Fatalf("got %d fds, want 3", len(fds))
			}
			for _, fd := range fds {
				if !isCloexec(t, fd) {
					t.Errorf("received fd %d is not close-on-exec", fd)
				}
			}

			m, err := shm.Map(fds[0], 4096)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			checkFill(t, m.Bytes(), 6)

			// fds[2] is the write end: what goes in comes out of our read end.
			if _, err := unix.Write(fds[2], []byte("x")); err != nil {
				t.Fatal(err)
			}
			one := make([]byte, 1)
			if _, err := unix.Read(pr, one); err != nil || one[0] != 'x' {
				t.Errorf("read through passed pipe: %q, %v", one, err)
			}
			unix.Close(fds[1])
			unix.Close(fds[2])
		})
	}
}

func TestSendRecvNoFds(t *testing.T) {
	a, b := socketpair(t, unix.SOCK_STREAM)
	if err := shm.SendFds(a, []byte("plain")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, fds, err := shm.RecvFds(b, buf, 4)
	if err != nil || string(buf[:n]) != "plain" || fds != nil {
		t.Fatalf("RecvFds = %d %q %v %v", n, buf[:n], fds, err)
	}
}

// TestRecvFdsErrorsCloseFds sends three fds at receivers that refuse them
// and checks that not one fd is left open in this process.
func TestRecvFdsErrorsCloseFds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		typ     int
		bufLen  int
		maxFds  int
		send    int // fds sent, 1 to 3
		wantErr error
	}{
		// No room at all: the kernel sets MSG_CTRUNC and drops the fds.
		{"maxFds 0", unix.SOCK_STREAM, 64, 0, 1, shm.ErrTooManyFds},
		// CmsgSpace rounds up to room for 2 fds: two arrive, then MSG_CTRUNC.
		{"maxFds 1, 3 sent", unix.SOCK_STREAM, 64, 1, 3, shm.ErrTooManyFds},
		// Same room: both arrive, no MSG_CTRUNC, RecvFds counts them.
		{"maxFds 1, 2 sent", unix.SOCK_STREAM, 64, 1, 2, shm.ErrTooManyFds},
		{"maxFds 2, 3 sent", unix.SOCK_STREAM, 64, 2, 3, shm.ErrTooManyFds},
		{"maxFds 2, 3 sent, seqpacket", unix.SOCK_SEQPACKET, 64, 2, 3, shm.ErrTooManyFds},
		{"truncated payload", unix.SOCK_SEQPACKET, 4, 8, 3, shm.ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := socketpair(t, tc.typ)
			before := openFds(t)
			r1, w1 := pipe2(t)
			r2, w2 := pipe2(t)
			err := shm.SendFds(a, []byte("sixteen bytes!!!"), []int{r1, w1, r2}[:tc.send]...)
			for _, fd := range []int{r1, w1, r2, w2} {
				unix.Close(fd)
			}
			if err != nil {
				t.Fatal(err)
			}
			n, fds, err := shm.RecvFds(b, make([]byte, tc.bufLen), tc.maxFds)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("RecvFds = %d, %v, %v; want %v", n, fds, err, tc.wantErr)
			}
			if n != 0 || fds != nil {
				t.Errorf("RecvFds returned n=%d fds=%v with an error", n, fds)
			}
			if after := openFds(t); after != before {
				t.Errorf("open fds %d -> %d: RecvFds leaked on error", before, after)
			}
		})
	}
}

func TestRecvFdsEOF(t *testing.T) {
	a, b := socketpair(t, unix.SOCK_STREAM)
	a.Close()
	_, _, err := shm.RecvFds(b, make([]byte, 8), 1)
	if !errors.Is(err, io.EOF) {
		t.Errorf("RecvFds after peer close = %v, want io.EOF", err)
	}
}

func TestRecvFdsDeadline(t *testing.T) {
	_, b := socketpair(t, unix.SOCK_STREAM)
	if err := b.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, _, err := shm.RecvFds(b, make([]byte, 8), 1)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("RecvFds on an idle conn = %v, want os.ErrDeadlineExceeded", err)
	}
}

func TestSendRecvFdsMisuse(t *testing.T) {
	a, b := socketpair(t, unix.SOCK_STREAM)
	if err := shm.SendFds(a, nil, 0); err == nil {
		t.Error("SendFds with empty payload succeeded")
	}
	if err := shm.SendFds(a, []byte("x"), -1); !errors.Is(err, unix.EBADF) {
		t.Errorf("SendFds(-1) = %v, want EBADF", err)
	}
	if err := shm.SendFds(a, []byte("x"), make([]int, shm.MaxFds+1)...); !errors.Is(err, shm.ErrTooManyFds) {
		t.Errorf("SendFds(MaxFds+1 fds) = %v, want ErrTooManyFds", err)
	}
	if _, _, err := shm.RecvFds(b, nil, 1); err == nil {
		t.Error("RecvFds with empty payload succeeded")
	}
	for _, maxFds := range []int{-1, shm.MaxFds + 1} {
		if _, _, err := shm.RecvFds(b, make([]byte, 1), maxFds); err == nil {
			t.Errorf("RecvFds(maxFds=%d) succeeded", maxFds)
		}
	}
}

// TestNoFdLeak runs the whole create/send/recv/map/close cycle and the
// RecvFds error paths many times and checks the process's fd count.
func TestNoFdLeak(t *testing.T) {
	a, b := socketpair(t, unix.SOCK_SEQPACKET)
	cycle := func(i int) {
		region, err := shm.Create("leak", 4096)
		if err != nil {
			t.Fatal(err)
		}
		region.Bytes()[0] = byte(i)
		if err := shm.SendFds(a, []byte("region"), region.Fd()); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			region.CloseFd()
		}
		_, fds, err := shm.RecvFds(b, make([]byte, 16), 1)
		if err != nil {
			t.Fatal(err)
		}
		m, err := shm.Map(fds[0], 4096)
		if err != nil {
			t.Fatal(err)
		}
		if m.Bytes()[0] != byte(i) {
			t.Fatalf("cycle %d: mapped byte %d", i, m.Bytes()[0])
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if err := region.Close(); err != nil {
			t.Fatal(err)
		}

		// Error paths: too many fds, truncated payload, unsealed memfd.
		r, w := pipe2(t)
		if err := shm.SendFds(a, []byte("too many"), r, w); err != nil {
			t.Fatal(err)
		}
		if _, _, err := shm.RecvFds(b, make([]byte, 16), 0); !errors.Is(err, shm.ErrTooManyFds) {
			t.Fatalf("cycle %d: %v, want ErrTooManyFds", i, err)
		}
		if err := shm.SendFds(a, []byte("much too long"), r, w); err != nil {
			t.Fatal(err)
		}
		if _, _, err := shm.RecvFds(b, make([]byte, 4), 2); !errors.Is(err, shm.ErrTruncated) {
			t.Fatalf("cycle %d: %v, want ErrTruncated", i, err)
		}
		unix.Close(r)
		unix.Close(w)
		fd := memfd(t, 4096, 0)
		if _, err := shm.Map(fd, 4096); !errors.Is(err, shm.ErrNotSealed) {
			t.Fatalf("cycle %d: %v, want ErrNotSealed", i, err)
		}
		unix.Close(fd)
	}
	cycle(0) // warm up anything the runtime opens once
	before := openFds(t)
	for i := range 1000 {
		cycle(i)
	}
	if after := openFds(t); after != before {
		t.Errorf("open fds %d -> %d after 1000 cycles", before, after)
	}
}

func TestPeerCred(t *testing.T) {
	a, _ := socketpair(t, unix.SOCK_STREAM)
	pid, uid, gid, err := shm.PeerCred(a)
	if err != nil {
		t.Fatal(err)
	}
	if pid != os.Getpid() || uid != os.Getuid() || gid != os.Getgid() {
		t.Errorf("PeerCred = pid %d uid %d gid %d, want %d %d %d",
			pid, uid, gid, os.Getpid(), os.Getuid(), os.Getgid())
	}
}
