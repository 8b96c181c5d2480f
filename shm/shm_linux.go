package shm

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/fdring/fdring/internal/sys"
	"golang.org/x/sys/unix"
)

// requiredSeals are the seals Create applies and Map insists on: together
// they freeze the size of the file for every process, forever.
const requiredSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

// Create makes a new memfd called name (the name only shows up in
// /proc/PID/fd and /proc/PID/maps, and need not be unique), sizes it to size
// bytes (zero-filled), seals it against shrinking, growing and further
// sealing, and maps it read-write and shared. size must be in [1, MaxSize];
// with WithHugePages it must also be a multiple of the huge page size.
//
// The fd is close-on-exec. Send it to the peer with SendFds; the peer calls
// Map. On error nothing is left behind: no fd, no mapping.
func Create(name string, size int, opts ...Option) (*Region, error) {
	o := collect(opts)
	if err := checkSize(size); err != nil {
		return nil, fmt.Errorf("shm: create %q: %w", name, err)
	}
	flags := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	if o.hugePages {
		flags |= unix.MFD_HUGETLB
	}
	fd, err := unix.MemfdCreate(name, flags)
	if err != nil {
		if o.hugePages && errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("shm: memfd_create(MFD_HUGETLB): %w: %w", ErrHugePages, err)
		}
		return nil, fmt.Errorf("shm: memfd_create: %w", err)
	}
	mem, err := sizeSealMap(fd, size, o)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &Region{mem: mem, fd: fd, fdOpen: true, size: size}, nil
}

// sizeSealMap does everything Create does after memfd_create; the caller
// closes fd if it fails. It never leaves a mapping behind on error.
func sizeSealMap(fd, size int, o options) ([]byte, error) {
	if o.hugePages {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return nil, fmt.Errorf("shm: fstat: %w", err)
		}
		// hugetlbfs reports the huge page size as the block size.
		if st.Blksize > 0 && size%int(st.Blksize) != 0 {
			return nil, fmt.Errorf("shm: create: size %d is not a multiple of the huge page size %d: %w",
				size, st.Blksize, ErrSize)
		}
	}
	if err := sys.IgnoringEINTR(func() error { return unix.Ftruncate(fd, int64(size)) }); err != nil {
		return nil, fmt.Errorf("shm: ftruncate: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, requiredSeals); err != nil {
		return nil, fmt.Errorf("shm: fcntl(F_ADD_SEALS): %w", err)
	}
	mem, err := mapFd(fd, size, o)
	if err != nil && o.hugePages && errors.Is(err, unix.ENOMEM) {
		return nil, fmt.Errorf("%w: %w", ErrHugePages, err)
	}
	return mem, err
}

// Map maps a memfd received from a peer (usually through RecvFds) read-write
// and shared, after checking, before anything is mapped, that fd is a
// regular file that supports seals ([ErrNotMemfd]), that it carries
// F_SEAL_SHRINK, F_SEAL_GROW and F_SEAL_SEAL ([ErrNotSealed]), and that its
// size is exactly wantSize ([ErrSize]). The sealing check comes first, so the
// size it then reads can no longer change.
//
// Ownership: on success the returned Region owns fd (close it early with
// Region.CloseFd if only the memory is needed). On error Map has not closed
// fd: it still belongs to the caller, who must close it.
func Map(fd int, wantSize int, opts ...Option) (*Region, error) {
	o := collect(opts)
	if err := checkSize(wantSize); err != nil {
		return nil, fmt.Errorf("shm: map: %w", err)
	}
	if fd < 0 {
		return nil, fmt.Errorf("shm: map: fd %d: %w", fd, unix.EBADF)
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("shm: map: fcntl(F_GET_SEALS): %w: %w", ErrNotMemfd, err)
		}
		return nil, fmt.Errorf("shm: map: fcntl(F_GET_SEALS): %w", err)
	}
	if seals&requiredSeals != requiredSeals {
		return nil, fmt.Errorf("shm: map: seals %#x lack %#x: %w", seals, requiredSeals&^seals, ErrNotSealed)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("shm: map: fstat: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("shm: map: file mode %#o is not a regular file: %w", st.Mode, ErrNotMemfd)
	}
	if st.Size != int64(wantSize) {
		return nil, fmt.Errorf("shm: map: memfd has %d bytes, want %d: %w", st.Size, wantSize, ErrSize)
	}
	mem, err := mapFd(fd, wantSize, o)
	if err != nil {
		return nil, err
	}
	return &Region{mem: mem, fd: fd, fdOpen: true, size: wantSize}, nil
}

// mapFd maps size bytes of fd shared and read-write, then applies the
// options. It leaves no mapping behind on error.
func mapFd(fd, size int, o options) ([]byte, error) {
	flags := unix.MAP_SHARED
	if o.populate {
		flags |= unix.MAP_POPULATE
	}
	// unix.Mmap returns the mapping as a []byte (no unsafe needed here); the
	// slice must be given back to unix.Munmap unchanged.
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, flags)
	if err != nil {
		return nil, fmt.Errorf("shm: mmap: %w", err)
	}
	if o.mlock {
		if err := unix.Mlock(mem); err != nil {
			unix.Munmap(mem)
			return nil, fmt.Errorf("shm: mlock: %w", err)
		}
	}
	return mem, nil
}

func collect(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

func checkSize(size int) error {
	if size <= 0 || int64(size) > MaxSize {
		return fmt.Errorf("size %d not in [1, %d]: %w", size, MaxSize, ErrSize)
	}
	return nil
}

// replaceWithPrivate maps anonymous private memory over mem in place. The
// kernel swaps the mapping under its mmap lock: a concurrent access sees
// the old pages or the new ones, never a hole.
func replaceWithPrivate(mem []byte) error {
	_, err := unix.MmapPtr(-1, 0, unsafe.Pointer(unsafe.SliceData(mem)), uintptr(len(mem)),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED)
	if err != nil {
		return fmt.Errorf("shm: retire: mmap: %w", err)
	}
	return nil
}

func unmap(mem []byte) error {
	if err := unix.Munmap(mem); err != nil {
		return fmt.Errorf("shm: munmap: %w", err)
	}
	return nil
}

func closeFd(fd int) error {
	// close(2) is not retried on EINTR: on Linux the fd is gone either way.
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("shm: close: %w", err)
	}
	return nil
}
