package shm_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdring/fdring/shm"
	"golang.org/x/sys/unix"
)

const allSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

func TestCreateMapRoundTrip(t *testing.T) {
	const size = 3*4096 + 100
	a, err := shm.Create("roundtrip", size)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Size() != size || len(a.Bytes()) != size {
		t.Fatalf("Size %d, len(Bytes) %d, want %d", a.Size(), len(a.Bytes()), size)
	}
	if !isCloexec(t, a.Fd()) {
		t.Error("memfd is not close-on-exec")
	}
	dup, err := unix.FcntlInt(uintptr(a.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := shm.Map(dup, size)
	if err != nil {
		unix.Close(dup)
		t.Fatal(err)
	}
	defer b.Close()
	if b.Fd() != dup {
		t.Errorf("Map's region has fd %d, want %d", b.Fd(), dup)
	}

	fill(a.Bytes(), 1)
	checkFill(t, b.Bytes(), 1)
	fill(b.Bytes(), 2)
	checkFill(t, a.Bytes(), 2)
}

func TestCreateSeals(t *testing.T) {
	r, err := shm.Create("seals", 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seals, err := unix.FcntlInt(uintptr(r.Fd()), unix.F_GET_SEALS, 0)
	if err != nil {
		t.Fatal(err)
	}
	if seals != allSeals {
		t.Errorf("seals %#x, want %#x", seals, allSeals)
	}
	for _, size := range []int64{0, 2048, 8192} {
		if err := unix.Ftruncate(r.Fd(), size); !errors.Is(err, unix.EPERM) {
			t.Errorf("ftruncate(%d) = %v, want EPERM", size, err)
		}
	}
	if _, err := unix.FcntlInt(uintptr(r.Fd()), unix.F_ADD_SEALS, unix.F_SEAL_WRITE); !errors.Is(err, unix.EPERM) {
		t.Errorf("F_ADD_SEALS after F_SEAL_SEAL = %v, want EPERM", err)
	}
}

func TestRegionClose(t *testing.T) {
	r, err := shm.Create("close", 4096, shm.WithPopulate(), shm.WithMlock())
	if err != nil {
		t.Fatal(err)
	}
	fd := r.Fd()
	if err := r.CloseFd(); err != nil {
		t.Fatal(err)
	}
	if isOpen(fd) {
		t.Errorf("fd %d still open after CloseFd", fd)
	}
	if r.Fd() != -1 {
		t.Errorf("Fd() = %d after CloseFd, want -1", r.Fd())
	}
	if err := r.CloseFd(); err != nil {
		t.Errorf("second CloseFd: %v", err)
	}
	fill(r.Bytes(), 3) // the mapping outlives the fd
	checkFill(t, r.Bytes(), 3)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if r.Bytes() != nil {
		t.Error("Bytes() not nil after Close")
	}
	if r.Size() != 4096 {
		t.Errorf("Size() = %d after Close, want 4096", r.Size())
	}
}

func TestCreateRefuses(t *testing.T) {
	type tc struct {
		name string
		size int
		want error
	}
	cases := []tc{
		{"zero", 0, shm.ErrSize},
		{"negative", -1, shm.ErrSize},
		{"bad\x00name", 4096, unix.EINVAL},
		{strings.Repeat("n", 300), 4096, unix.EINVAL},
	}
	if tooBig := shm.MaxSize + 1; int64(int(tooBig)) == tooBig { // 64-bit int
		cases = append(cases, tc{"too big", int(tooBig), shm.ErrSize})
	}
	before := openFds(t)
	for _, tc := range cases {
		r, err := shm.Create(tc.name, tc.size)
		if !errors.Is(err, tc.want) {
			t.Errorf("Create(%.10q, %d) = %v, want %v", tc.name, tc.size, err, tc.want)
		}
		if r != nil {
			t.Errorf("Create(%.10q, %d) returned a region with an error", tc.name, tc.size)
		}
	}
	if after := openFds(t); after != before {
		t.Errorf("open fds %d -> %d: failed Create leaked", before, after)
	}
}

// TestCreateHugePages passes whether or not the machine has huge pages: it
// checks that they work when present and fail cleanly with ErrHugePages when
// not.
func TestCreateHugePages(t *testing.T) {
	before := openFds(t)
	const size = 2 << 20
	r, err := shm.Create("huge", size, shm.WithHugePages())
	switch {
	case err == nil:
		fill(r.Bytes(), 4)
		checkFill(t, r.Bytes(), 4)
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	case errors.Is(err, shm.ErrHugePages):
		t.Logf("no huge pages here: %v", err)
	default:
		t.Fatalf("Create with huge pages: %v, want success or ErrHugePages", err)
	}

	_, err = shm.Create("huge-odd", 4096, shm.WithHugePages())
	if !errors.Is(err, shm.ErrSize) && !errors.Is(err, shm.ErrHugePages) {
		t.Errorf("Create(4096, WithHugePages) = %v, want ErrSize or ErrHugePages", err)
	}
	if after := openFds(t); after != before {
		t.Errorf("open fds %d -> %d: huge page Create leaked", before, after)
	}
}

func TestMapOptions(t *testing.T) {
	r, err := shm.Create("opts", 8192)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fill(r.Bytes(), 5)
	dup, err := unix.FcntlInt(uintptr(r.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := shm.Map(dup, 8192, shm.WithPopulate(), shm.WithMlock(), shm.WithHugePages())
	if err != nil {
		unix.Close(dup)
		t.Fatal(err)
	}
	defer m.Close()
	checkFill(t, m.Bytes(), 5)
}

// TestMapRefuses checks every refusal and that a refused fd still belongs to
// the caller (Map does not close it).
func TestMapRefuses(t *testing.T) {
	pipe := func(t *testing.T) int {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		unix.Close(p[1])
		return p[0]
	}
	open := func(path string, flags int) func(t *testing.T) int {
		return func(t *testing.T) int {
			fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			return fd
		}
	}
	file := func(t *testing.T) int {
		path := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(path, make([]byte, 4096), 0o600); err != nil {
			t.Fatal(err)
		}
		return open(path, unix.O_RDWR)(t)
	}
	noSealing := func(t *testing.T) int {
		fd, err := unix.MemfdCreate("nosealing", unix.MFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Ftruncate(fd, 4096); err != nil {
			t.Fatal(err)
		}
		return fd
	}
	socket := func(t *testing.T) int {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		return fd
	}
	withSeals := func(size, seals int) func(t *testing.T) int {
		return func(t *testing.T) int { return memfd(t, size, seals) }
	}

	for _, tc := range []struct {
		name     string
		fd       func(t *testing.T) int
		wantSize int
		want     []error // any of these
	}{
		{"unsealed", withSeals(4096, 0), 4096, []error{shm.ErrNotSealed}},
		{"shrink only", withSeals(4096, unix.F_SEAL_SHRINK), 4096, []error{shm.ErrNotSealed}},
		{"shrink+grow, not sealed", withSeals(4096, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW), 4096, []error{shm.ErrNotSealed}},
		{"seal only", withSeals(4096, unix.F_SEAL_SEAL), 4096, []error{shm.ErrNotSealed}},
		{"sealing not allowed", noSealing, 4096, []error{shm.ErrNotSealed}},
		{"short", withSeals(4096, allSeals), 8192, []error{shm.ErrSize}},
		{"long", withSeals(8192, allSeals), 4096, []error{shm.ErrSize}},
		{"zero wantSize", withSeals(4096, allSeals), 0, []error{shm.ErrSize}},
		{"pipe", pipe, 4096, []error{shm.ErrNotMemfd}},
		{"socket", socket, 4096, []error{shm.ErrNotMemfd}},
		{"/dev/null", open("/dev/null", unix.O_RDWR), 4096, []error{shm.ErrNotMemfd}},
		{"directory", open("/", unix.O_RDONLY|unix.O_DIRECTORY), 4096, []error{shm.ErrNotMemfd}},
		// A disk file has no seals (ErrNotMemfd); a plain tmpfs file is
		// sealed against sealing only (ErrNotSealed).
		{"regular file", file, 4096, []error{shm.ErrNotMemfd, shm.ErrNotSealed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := tc.fd(t)
			defer unix.Close(fd)
			r, err := shm.Map(fd, tc.wantSize)
			if r != nil {
				r.Close()
				t.Fatal("Map succeeded")
			}
			ok := false
			for _, want := range tc.want {
				ok = ok || errors.Is(err, want)
			}
			if !ok {
				t.Errorf("Map = %v, want one of %v", err, tc.want)
			}
			if !isOpen(fd) {
				t.Errorf("Map closed fd %d on error; the caller owns it", fd)
			}
		})
	}

	if _, err := shm.Map(-1, 4096); !errors.Is(err, unix.EBADF) {
		t.Errorf("Map(-1) = %v, want EBADF", err)
	}
}

func TestZeroRegion(t *testing.T) {
	var r shm.Region
	if r.Fd() != -1 || r.Bytes() != nil {
		t.Errorf("zero Region: Fd %d, Bytes %v", r.Fd(), r.Bytes())
	}
	if err := r.Close(); err != nil { // must not close fd 0
		t.Error(err)
	}
	if !isOpen(0) {
		t.Error("closing a zero Region closed fd 0")
	}
}
