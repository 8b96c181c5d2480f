package shm_test

import (
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testTimeout bounds every blocking operation in these tests.
const testTimeout = 20 * time.Second

// socketpairFiles returns both ends of a unix socket pair of type typ
// (SOCK_STREAM, SOCK_SEQPACKET) as files, closed at the end of the test.
func socketpairFiles(t *testing.T, typ int) (a, b *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	a, b = os.NewFile(uintptr(fds[0]), "sock-a"), os.NewFile(uintptr(fds[1]), "sock-b")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// unixConn turns f into a *net.UnixConn with a deadline, closed at the end
// of the test. f may be closed right after.
func unixConn(t *testing.T, f *os.File) *net.UnixConn {
	t.Helper()
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatalf("FileConn: %v", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		t.Fatalf("FileConn gave %T, want *net.UnixConn", c)
	}
	t.Cleanup(func() { uc.Close() })
	if err := uc.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatalf("SetDeadline: %v", err)
	}
	return uc
}

// socketpair returns both ends of a unix socket pair of type typ as conns
// with deadlines.
func socketpair(t *testing.T, typ int) (a, b *net.UnixConn) {
	t.Helper()
	fa, fb := socketpairFiles(t, typ)
	a, b = unixConn(t, fa), unixConn(t, fb)
	fa.Close()
	fb.Close()
	return a, b
}

// openFds counts this process's open fds.
func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read /proc/self/fd: %v", err)
	}
	return len(ents)
}

// isOpen reports whether fd is an open fd of this process.
func isOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// isCloexec reports whether fd has FD_CLOEXEC set.
func isCloexec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatalf("F_GETFD %d: %v", fd, err)
	}
	return flags&unix.FD_CLOEXEC != 0
}

// memfd makes a memfd of size bytes by hand, with the given seals (0: none).
func memfd(t *testing.T, size int, seals int) int {
	t.Helper()
	fd, err := unix.MemfdCreate("test", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatalf("memfd_create: %v", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		t.Fatalf("ftruncate: %v", err)
	}
	if seals != 0 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
			t.Fatalf("F_ADD_SEALS: %v", err)
		}
	}
	return fd
}

func fill(b []byte, seed byte) {
	for i := range b {
		b[i] = byte(i)*7 + seed
	}
}

func checkFill(t *testing.T, b []byte, seed byte) {
	t.Helper()
	for i := range b {
		if want := byte(i)*7 + seed; b[i] != want {
			t.Fatalf("byte %d = %#x, want %#x", i, b[i], want)
		}
	}
}
