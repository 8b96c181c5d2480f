// Package sys is the one home of the OS plumbing that fdring's packages
// share: retrying system calls interrupted by a signal (EINTR), and making
// pipes and sockets that are close-on-exec and non-blocking from the start
// (atomically where the system can, under syscall.ForkLock where it cannot).
//
// The wrappers are thin: they return raw errno values (unix.Errno), so the
// callers, which know what an error means for them, wrap and classify it.
// It imports nothing of fdring's.
package sys
