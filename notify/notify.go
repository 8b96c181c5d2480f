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

	"github.com/fdring/fdring/internal/sys"
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

// ErrHangup is returned by Clear and Waiter.Wait when the fd reports end of
// file: every writer of a pipe or the peer of a socket closed its end (its
// process exited, was killed, or closed it). No signal will ever come.
var ErrHangup = errors.New("notify: peer hung up")

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
// by Clear; Signal writes to wfd. If rfd == wfd and it is not a socket, the
// fd is treated as an eventfd (8-byte writes of 1); otherwise as a pipe or
// socket (1-byte writes). Both are switched to non-blocking and
// close-on-exec mode. On success the Notifier owns them (Close closes
// them); on error they stay the caller's.
//
// Sockets are the kind to use with a peer that is not trusted (another
// process): every send and receive on them is made with MSG_DONTWAIT, so
// it never blocks whatever the file status flags say (a process holding
// the same open file description can clear O_NONBLOCK), a peer cannot make
// a signal block by filling its queue (EAGAIN means it has signals
// pending), and its death shows as ErrHangup. An eventfd shared with a
// peer has none of these properties: the peer can saturate its counter,
// switch it to semaphore mode or make it blocking.
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
	n := &fdNotifier{rfd: rfd, wfd: wfd, rkind: kindOf(rfd), wkind: kindOf(wfd)}
	if rfd == wfd && n.rkind == kindPipe {
		n.rkind, n.wkind = kindEventfd, kindEventfd
	}
	return n, nil
}

// Edge reports whether every Signal of n makes a new readiness edge on its
// fd and signals never fill the fd up, so that a waiter registered
// edge-triggered (EPOLLET) need not Clear it: true for eventfds (each write
// adds to a 64-bit counter and wakes its waiters), false for pipes and
// sockets (a pipe full of unread signals takes no more) and for notifiers
// this package did not make.
func Edge(n Notifier) bool {
	f, ok := n.(*fdNotifier)
	return ok && f.rkind == kindEventfd
}

// fdKind says how to read or write one fd.
type fdKind uint8

const (
	kindPipe    fdKind = iota // pipe or other byte stream: read(2)/write(2) of one byte
	kindEventfd               // 8-byte counter words
	kindStream                // stream socket: recv/send with MSG_DONTWAIT
	kindPacket                // datagram or seqpacket socket: one message per recv
)

func (k fdKind) socket() bool { return k == kindStream || k == kindPacket }

// kindOf tells a socket (and whether it keeps message boundaries) from a
// pipe; eventfds are recognised by the caller (one fd for both ends).
func kindOf(fd int) fdKind {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	switch {
	case err != nil:
		return kindPipe
	case typ == unix.SOCK_STREAM:
		return kindStream
	default:
		return kindPacket
	}
}

// fdNotifier implements every kind: eventfd (rfd == wfd, word writes) and
// pipe-like pairs (byte writes).
type fdNotifier struct {
	rfd, wfd     int
	rkind, wkind fdKind

	// mu makes Close wait for a Signal or Clear in flight, so neither ever
	// touches an fd number that Close released and the process reused.
	mu     sync.RWMutex
	closed bool
}

func (n *fdNotifier) Fd() int { return n.rfd }

func (n *fdNotifier) Signal() error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return ErrClosed
	}
	err := signalFd(n.wfd, n.wkind)
	switch err {
	case nil, unix.EAGAIN:
		// EAGAIN: the counter or the queue is full of signals not yet
		// consumed, so the waiter will wake anyway.
		return nil
	case unix.EPIPE, unix.ECONNRESET, unix.ECONNREFUSED:
		return fmt.Errorf("notify: signal fd %d: %w: %w", n.wfd, ErrHangup, err)
	}
	return fmt.Errorf("notify: signal fd %d: %w", n.wfd, err)
}

func (n *fdNotifier) Clear() error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return ErrClosed
	}
	if _, err := drainCount(n.rfd, n.rkind); err != nil {
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

// signalFd writes one signal to fd, never blocking: sockets are written
// with MSG_DONTWAIT (whatever the shared file status flags say), pipes and
// eventfds are non-blocking fds this process made.
func signalFd(fd int, kind fdKind) error {
	var b [8]byte
	msg := b[:1] // pipes and sockets: one byte
	if kind == kindEventfd {
		binary.NativeEndian.PutUint64(b[:], 1) // the counter increment
		msg = b[:]
	} else {
		b[0] = 1
	}
	return sys.IgnoringEINTR(func() error {
		if kind.socket() {
			return unix.Sendto(fd, msg, unix.MSG_DONTWAIT, nil)
		}
		_, e := unix.Write(fd, msg)
		return e
	})
}

// maxDrainReads bounds how many reads one drain makes: a peer that writes
// without pause cannot keep a drain (and the loop thread running it) busy
// for ever; what is left keeps the fd readable for the next round. It is
// far above what an honest peer leaves (one signal per sleep) and above
// what a full socket queue of one-byte messages or a full pipe holds.
const maxDrainReads = 1024

// drainCount reads fd until it would block (at most maxDrainReads reads).
// It reports whether anything was read, and ErrHangup at end of file (a
// pipe whose writers are all gone, a socket whose peer closed). Sockets are
// read with MSG_DONTWAIT, so the read cannot block even if the peer, which
// may share the open file description, cleared O_NONBLOCK.
func drainCount(fd int, kind fdKind) (bool, error) {
	if kind == kindPacket {
		return drainPackets(fd)
	}
	return drainLoop(fd, kind)
}

// drainLoop is drainCount with one read or recv per call.
func drainLoop(fd int, kind fdKind) (bool, error) {
	var buf [1024]byte
	got := false
	for range maxDrainReads {
		var n int
		err := sys.IgnoringEINTR(func() error {
			var e error
			if kind.socket() {
				n, e = recvDontwait(fd, buf[:])
			} else {
				n, e = unix.Read(fd, buf[:])
			}
			return e
		})
		switch {
		case err == unix.EAGAIN:
			return got, nil
		case err == unix.ECONNRESET:
			// A socket whose peer closed with messages of ours unread.
			return got, ErrHangup
		case err != nil:
			return got, err
		case n == 0:
			return got, ErrHangup
		}
		got = true
		if n < len(buf) && kind != kindPacket {
			// An eventfd read returns 8 bytes and resets the counter; a
			// short pipe or stream read emptied it.
			return true, nil
		}
	}
	return got, nil
}

// ShutRead shuts n's fd for reading when it is a socket (a notifier over a
// connection to another process): every waiter on it then sees end of file
// (ErrHangup) and wakes. It never touches a closed fd: it holds n's lock
// against Close (ErrClosed after it). Other kinds: errors.ErrUnsupported.
func ShutRead(n Notifier) error {
	f, ok := n.(*fdNotifier)
	if !ok || !f.rkind.socket() {
		return errors.ErrUnsupported
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return ErrClosed
	}
	if err := unix.Shutdown(f.rfd, unix.SHUT_RD); err != nil {
		return fmt.Errorf("notify: shutdown fd %d: %w", f.rfd, err)
	}
	return nil
}
