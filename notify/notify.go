// Package notify provides the wakeup file descriptors of fdring: a side
// that is about to sleep waits until its fd is readable, and its peer makes
// it readable with Signal. Three kinds are provided:
//
//   - eventfd (Linux): one fd, a counter; the cheapest kind.
//   - pipe (any Unix): a read end to wait on, a write end to signal.
//   - FromFds: any fds the caller brings (an eventfd received from another
//     process, a socket, a pipe made elsewhere).
//
// Every fd is non-blocking and close-on-exec. Signal never blocks: when the
// fd is already signalled (eventfd counter or pipe buffer full) the write
// fails with EAGAIN, which means the waiter will wake anyway, so Signal
// reports success. Clear consumes every pending signal without blocking.
// Signals coalesce: many Signals before one Clear wake the waiter once.
//
// A Waiter blocks a goroutine until an fd is signalled, through Go's runtime
// poller: the goroutine costs no OS thread while it waits, and a context
// ends the wait promptly.
package notify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Notifier is a wakeup fd pair: Fd becomes readable after Signal, until
// Clear. Signal may be called from any goroutine or process holding the fd;
// Clear by the waiting side.
type Notifier interface {
	// Fd is the descriptor to wait on for readability.
	Fd() int
	// Signal makes Fd readable. Already signalled is not an error.
	Signal() error
	// Clear consumes all pending signals; Fd is then not readable until
	// the next Signal.
	Clear() error
	// Close closes the descriptors. It is idempotent, and waits for a
	// concurrent Signal or Clear to finish; later ones return ErrClosed.
	Close() error
}

// ErrClosed is returned by operations on a closed Notifier or Waiter.
var ErrClosed = errors.New("notify: closed")

// ErrInterrupted is returned by Waiter.Wait after Interrupt.
var ErrInterrupted = errors.New("notify: wait interrupted")

// New returns the best notifier for the platform: an eventfd on Linux, a
// pipe elsewhere.
func New() (Notifier, error) {
	n, err := NewEventfd()
	if errors.Is(err, errors.ErrUnsupported) {
		return NewPipe()
	}
	return n, err
}

// FromFds wraps descriptors the caller brings. rfd is waited on and drained
// by Clear; Signal writes to wfd. If rfd == wfd the fd is treated as an
// eventfd (8-byte writes of 1); otherwise as a pipe or socket (1-byte
// writes). Both are switched to non-blocking and close-on-exec mode. On
// success the Notifier owns them (Close closes them); on error they stay
// the caller's.
func FromFds(rfd, wfd int) (Notifier, error) {
	if rfd < 0 || wfd < 0 {
		return nil, fmt.Errorf("notify: from fds: invalid fd %d/%d", rfd, wfd)
	}
	for _, fd := range []int{rfd, wfd} {
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, fmt.Errorf("notify: from fds: set non-blocking fd %d: %w", fd, err)
		}
		unix.CloseOnExec(fd)
	}
	if rfd == wfd {
		return &fdNotifier{rfd: rfd, wfd: wfd, word: true}, nil
	}
	return &fdNotifier{rfd: rfd, wfd: wfd, packet: isPacketSocket(rfd)}, nil
}

// Edge reports whether every Signal of n makes a new readiness edge on its
// fd and signals never fill the fd up, so that a waiter registered
// edge-triggered (EPOLLET) need not Clear it: true for eventfds (each write
// adds to a 64-bit counter and wakes its waiters), false for pipes and
// sockets (a pipe full of unread signals takes no more) and for notifiers
// this package did not make.
func Edge(n Notifier) bool {
	f, ok := n.(*fdNotifier)
	return ok && f.word
}

// fdNotifier implements every kind: eventfd (rfd == wfd, word writes) and
// pipe-like pairs (byte writes).
type fdNotifier struct {
	rfd, wfd int
	word     bool // write an 8-byte 1 (eventfd) rather than one byte
	packet   bool // rfd keeps message boundaries: see drainCount

	// mu makes Close wait for a Signal or Clear in flight, so neither ever
	// touches an fd number that Close released and the process reused.
	mu     sync.RWMutex
	closed bool
}

func (n *fdNotifier) Fd() int { return n.rfd }

func (n *fdNotifier) Signal() error {
	var b [8]byte
	msg := b[:1] // pipes and sockets: one byte
	if n.word {
		binary.NativeEndian.PutUint64(b[:], 1) // eventfd: the counter increment
		msg = b[:]
	} else {
		b[0] = 1
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return ErrClosed
	}
	err := ignoreEINTR(func() error { _, e := unix.Write(n.wfd, msg); return e })
	if err == nil || err == unix.EAGAIN {
		return nil
	}
	return fmt.Errorf("notify: signal fd %d: %w", n.wfd, err)
}

func (n *fdNotifier) Clear() error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return ErrClosed
	}
	if _, err := drainCount(n.rfd, n.packet); err != nil {
		return fmt.Errorf("notify: clear fd %d: %w", n.rfd, err)
	}
	return nil
}

func (n *fdNotifier) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	err := unix.Close(n.rfd)
	if n.wfd != n.rfd {
		if e := unix.Close(n.wfd); err == nil {
			err = e
		}
	}
	if err != nil {
		return fmt.Errorf("notify: close: %w", err)
	}
	return nil
}

// drainCount reads fd until it would block. It reports whether anything was
// read. packet says fd keeps message boundaries (a datagram or seqpacket
// socket): each read then takes one message, so a short read does not mean
// fd is empty.
func drainCount(fd int, packet bool) (bool, error) {
	var buf [128]byte
	got := false
	for {
		var n int
		err := ignoreEINTR(func() error { var e error; n, e = unix.Read(fd, buf[:]); return e })
		switch {
		case err == unix.EAGAIN:
			return got, nil
		case err != nil:
			return got, err
		case n == 0:
			// A pipe whose write end is closed: readable forever. Report
			// it as signalled so the waiter looks at its ring and finds
			// the peer's state.
			return true, nil
		}
		got = true
		if n < len(buf) && !packet {
			// An eventfd read returns 8 bytes and resets the counter; a
			// short pipe read emptied the pipe.
			return true, nil
		}
	}
}

// isPacketSocket reports whether fd is a socket that keeps message
// boundaries. Pipes and eventfds are not sockets: false.
func isPacketSocket(fd int) bool {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	return err == nil && typ != unix.SOCK_STREAM
}

// ignoreEINTR runs a syscall wrapper until it does not fail with EINTR. It
// is the one place that retries interrupted calls.
func ignoreEINTR(call func() error) error {
	for {
		if err := call(); err != unix.EINTR {
			return err
		}
	}
}
