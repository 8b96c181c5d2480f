package sys

import (
	"errors"
	"net"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

func TestIgnoringEINTR(t *testing.T) {
	calls := 0
	err := IgnoringEINTR(func() error {
		calls++
		if calls < 4 {
			return unix.EINTR
		}
		return unix.EAGAIN
	})
	if err != unix.EAGAIN || calls != 4 {
		t.Fatalf("IgnoringEINTR = %v after %d calls, want EAGAIN after 4", err, calls)
	}
	calls = 0
	v, err := IgnoringEINTRValue(func() (int, error) {
		calls++
		if calls < 3 {
			return -1, unix.EINTR
		}
		return 42, nil
	})
	if v != 42 || err != nil || calls != 3 {
		t.Fatalf("IgnoringEINTRValue = %d, %v after %d calls, want 42, nil after 3", v, err, calls)
	}
}

// checkFd fails unless fd is close-on-exec and non-blocking.
func checkFd(t *testing.T, what string, fd int) {
	t.Helper()
	fdFlags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatalf("%s: F_GETFD: %v", what, err)
	}
	if fdFlags&unix.FD_CLOEXEC == 0 {
		t.Errorf("%s: fd %d is not close-on-exec", what, fd)
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatalf("%s: F_GETFL: %v", what, err)
	}
	if fl&unix.O_NONBLOCK == 0 {
		t.Errorf("%s: fd %d is blocking", what, fd)
	}
}

func TestPipe(t *testing.T) {
	p, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	checkFd(t, "read end", p[0])
	checkFd(t, "write end", p[1])
	var b [4]byte
	if _, err := unix.Read(p[0], b[:]); err != unix.EAGAIN {
		t.Fatalf("read of an empty pipe = %v, want EAGAIN", err)
	}
	if n, err := unix.Write(p[1], []byte("x")); n != 1 || err != nil {
		t.Fatalf("write = %d, %v", n, err)
	}
	if n, err := unix.Read(p[0], b[:]); n != 1 || err != nil || b[0] != 'x' {
		t.Fatalf("read = %d, %v, %q", n, err, b[:n])
	}
}

func TestSocketAccept(t *testing.T) {
	fd, err := Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	checkFd(t, "socket", fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Accept(fd); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("Accept with nothing pending = %v, want EAGAIN", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*unix.SockaddrInet4).Port
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Wait (at most 10 s) for the connection to be pending.
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, err := IgnoringEINTRValue(func() (int, error) { return unix.Poll(pfd, 10000) }); n != 1 || err != nil {
		t.Fatalf("poll on the listener = %d, %v", n, err)
	}
	nfd, peer, err := Accept(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(nfd)
	checkFd(t, "accepted", nfd)
	if _, ok := peer.(*unix.SockaddrInet4); !ok {
		t.Errorf("peer address %T, want *unix.SockaddrInet4", peer)
	}
}
