package shm

import (
	"errors"
	"sync"
)

// Sentinel errors, matched with errors.Is. Returned errors wrap one of these
// together with the operation and, where there is one, the errno.
var (
	// ErrSize: a size is out of range (Create: not in [1, MaxSize], or not a
	// multiple of the huge page size), or a memfd offered to Map does not have
	// exactly the expected size.
	ErrSize = errors.New("bad size")

	// ErrNotSealed: a memfd offered to Map lacks one of F_SEAL_SHRINK,
	// F_SEAL_GROW and F_SEAL_SEAL, so its owner could still truncate it under
	// our mapping.
	ErrNotSealed = errors.New("memfd not sealed against shrink, grow and reseal")

	// ErrNotMemfd: an fd offered to Map is not a regular file that supports
	// seals (a pipe, a socket, a device, a file on disk).
	ErrNotMemfd = errors.New("fd is not a sealable memfd")

	// ErrHugePages: Create was asked for huge pages (WithHugePages) and the
	// system could not provide them (no hugetlb support, or no free huge pages
	// reserved in /proc/sys/vm/nr_hugepages). Retry without the option to fall
	// back to normal pages.
	ErrHugePages = errors.New("huge pages unavailable")

	// ErrTooManyFds: a message carried more fds than RecvFds was told to
	// accept (every one that arrived was closed), or SendFds was given more
	// than MaxFds.
	ErrTooManyFds = errors.New("too many fds")

	// ErrTruncated: a datagram or seqpacket message was longer than the buffer
	// passed to RecvFds; the rest was discarded and every fd that came with it
	// closed.
	ErrTruncated = errors.New("message truncated")
)

const (
	// MaxSize is the largest region Create accepts: 1 TiB, far above any
	// sane ring and far below what would overflow an offset computation.
	MaxSize int64 = 1 << 40

	// MaxFds is the most fds one message may carry (Linux's SCM_MAX_FD).
	MaxFds = 253
)

// Option adjusts Create or Map.
type Option func(*options)

type options struct {
	populate  bool
	mlock     bool
	hugePages bool
}

// WithPopulate prefaults the whole mapping (MAP_POPULATE), so the first
// touch of each page does not take a page fault on the hot path.
func WithPopulate() Option { return func(o *options) { o.populate = true } }

// WithMlock locks the mapping in RAM (mlock(2)), so it is never swapped out.
// Create or Map fails if the lock fails (for example RLIMIT_MEMLOCK without
// CAP_IPC_LOCK).
func WithMlock() Option { return func(o *options) { o.mlock = true } }

// WithHugePages makes Create back the region with huge pages (MFD_HUGETLB,
// the system's default huge page size, usually 2 MiB). The size must be a
// multiple of the huge page size. There is no silent fallback: if the kernel
// cannot provide huge pages, Create fails with an error wrapping
// ErrHugePages, and the caller may retry without this option. Map ignores
// it: the fd it is given decides the page size.
func WithHugePages() Option { return func(o *options) { o.hugePages = true } }

// Region is a shared memory region mapped read-write into this process.
// Its methods are safe for concurrent use; the memory itself is shared with
// other processes and carries no synchronisation of its own.
type Region struct {
	mu     sync.Mutex
	mem    []byte // nil once unmapped
	fd     int
	fdOpen bool // false once closed (and in the zero Region, so fd 0 is safe)
	size   int
	// retired: the range holds private zero memory (Retire), no longer
	// the shared pages.
	retired bool
}

// Bytes returns the mapped memory, or nil after Close. The slice must not be
// used after Close.
func (r *Region) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mem
}

// Fd returns the memfd, or -1 once CloseFd or Close closed it. The Region
// still owns it: do not close it yourself. Send it with SendFds.
func (r *Region) Fd() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.fdOpen {
		return -1
	}
	return r.fd
}

// Size returns the size of the region in bytes. It does not change on Close.
func (r *Region) Size() int { return r.size }

// CloseFd closes the fd and keeps the mapping, which stays valid. It is
// idempotent.
func (r *Region) CloseFd() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closeFdLocked()
}

func (r *Region) closeFdLocked() error {
	if !r.fdOpen {
		return nil
	}
	r.fdOpen = false
	return closeFd(r.fd)
}

// Retire detaches the region from the shared memory without unmapping its
// addresses: it maps private, zero-filled, read-write memory over the same
// range in one step (mmap MAP_FIXED), and closes the fd. A call that still
// holds a pointer into the region (a slice handed to a callback, a word
// another goroutine is about to store) then reads zeros and writes to
// memory nobody else sees, instead of faulting, and the shared pages are
// released as soon as every other process lets go of them too. Close (or a
// cleanup once nothing refers to the memory) unmaps the range afterwards.
// Idempotent; a no-op after Close.
func (r *Region) Retire() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	if r.mem != nil && !r.retired {
		err = replaceWithPrivate(r.mem)
		r.retired = err == nil
	}
	return errors.Join(err, r.closeFdLocked())
}

// Close unmaps the region and closes the fd if it is still open. It is
// idempotent. The memory lives on in other processes that map it.
func (r *Region) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errUnmap error
	if r.mem != nil {
		errUnmap = unmap(r.mem)
		r.mem = nil
	}
	return errors.Join(errUnmap, r.closeFdLocked())
}
