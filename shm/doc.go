// Package shm creates, seals, maps and passes shared memory between
// processes on one machine, and passes file descriptors over unix sockets.
//
// # memfd
//
// A memfd (memfd_create(2)) is an anonymous file that lives in RAM: it has no
// name in any file system, it disappears when the last fd and the last mapping
// of it are gone, and it can be handed to another process like any fd, over a
// unix socket with SCM_RIGHTS ([SendFds], [RecvFds]) or by inheritance.
// [Create] makes one, sizes it, seals it and maps it; the peer that receives
// the fd calls [Map].
//
// # Seals, and why the consumer insists on them
//
// Memory mapped from a file is only backed while the file is long enough. If
// the process that created the memfd shrank it with ftruncate(2), every other
// process touching the now missing pages would die of SIGBUS: a peer could
// kill us, by mistake or on purpose, just by truncating. File seals
// (fcntl(F_ADD_SEALS)) make that impossible: F_SEAL_SHRINK forbids shrinking,
// F_SEAL_GROW forbids growing (so the size both sides agreed on stays the
// size), and F_SEAL_SEAL forbids changing the seals again, so nobody can take
// them back. Seals belong to the file, not to an fd, and hold for every
// process. [Create] applies all three; [Map] checks, before it maps anything,
// that all three are present and that the size is exactly the expected one,
// and refuses the fd otherwise ([ErrNotSealed], [ErrSize], [ErrNotMemfd]).
// Writes are not sealed: both sides share the memory read-write, and the
// protocol on top (see package ring) must validate what it reads.
//
// # Lifetime and fd ownership
//
//   - A [Region] owns its mapping and, until [Region.CloseFd] or
//     [Region.Close], its fd. The mapping stays valid after the fd is closed
//     (the kernel keeps the file alive while it is mapped), so a consumer that
//     only needs the memory can map and then close the fd at once.
//   - [Region.Close] unmaps and closes the fd if still open; it is idempotent.
//     [Region.Bytes] must not be used after Close: the memory is gone and an
//     access faults.
//   - [Map] takes ownership of the fd only when it succeeds. When it returns an
//     error the fd is untouched and still belongs to the caller, who closes it.
//   - [SendFds] never takes ownership: the kernel duplicates the fds into the
//     message and the caller may close its copies when SendFds returns.
//   - [RecvFds] returns fds the caller owns (close-on-exec is set). When it
//     returns an error it has closed every fd that arrived, so an error never
//     leaks an fd.
//
// All fds this package creates or receives are close-on-exec: a child process
// started with os/exec inherits only what it is given in ExtraFiles.
//
// # Platforms
//
// memfd, seals and SO_PEERCRED are Linux-only; elsewhere [Create], [Map] and
// [PeerCred] return an error wrapping [errors.ErrUnsupported]. [SendFds] and
// [RecvFds] work on every Unix.
package shm
