package loop

import (
	"fmt"
	"net"
	"os"
	"time"

	"github.com/fdring/fdring/internal/sys"
	"golang.org/x/sys/unix"
)

// Listeners.
//
// A Listener is a non-blocking listening socket registered for Readable. On
// each readable event the loop accepts (accept4 with SOCK_NONBLOCK and
// SOCK_CLOEXEC on Linux) until EAGAIN or WithAcceptBatch connections, so a
// storm of connections cannot starve the rest of the loop; the poller is
// level-triggered and reports the remainder next round. Each accepted fd
// becomes a Conn on this loop, or, for a Group's listener, goes to route,
// which gives it to the loop the balancer picks (group.go). All methods run on the loop goroutine.
//
// Accept errors. ECONNABORTED and EPROTO belong to one connection, which
// the failed accept took off the backlog: the loop goes on accepting. Any
// other error (EMFILE, ENFILE: out of fds; ENOBUFS, ENOMEM; anything
// unexpected) leaves the connection in the backlog and the listener
// readable, and level-triggered polling would report it again every round:
// the loop would spin at full CPU until the condition clears. So the
// listener backs off, as net/http's Server does on temporary accept errors:
// it stops watching the socket (interest 0) and a loop timer watches it
// again after a delay that starts at 5 ms and doubles up to 1 s; a
// successful accept resets the delay. Stats counts the failed accepts
// (AcceptErrors) and the backoffs (AcceptBackoffs). While backing off,
// pending clients wait in the kernel's backlog; nothing is lost.
//
// A unix listener's socket file. Bind creates it; Close removes it, but only
// while the path still names that very socket (same device and inode, still
// a socket): a file someone put in its place since is not ours to remove.
// Abstract addresses (Linux, "@name") and the unnamed address have no file,
// so nothing is removed for them (unixSocketFile).

// Listener accepts connections on a loop.
type Listener struct {
	l      *Loop
	tok    Token
	fd     int
	h      ConnHandler
	addr   net.Addr
	file   socketFile   // unix socket file to remove on Close
	route  func(fd int) // a Group's balancer; nil: adopt on this loop
	closed bool
	retry  *Timer        // backing off: watches the socket again; nil when accepting
	delay  time.Duration // the latest backoff delay; 0 after a successful accept
}

// Accept backoff delays (see the top of the file).
const (
	acceptDelayMin = 5 * time.Millisecond
	acceptDelayMax = time.Second
)

// nextAcceptDelay returns the backoff delay that follows d.
func nextAcceptDelay(d time.Duration) time.Duration {
	if d <= 0 {
		return acceptDelayMin
	}
	return min(2*d, acceptDelayMax)
}

// Listen opens a listening socket ("tcp", "tcp4", "tcp6" with "host:port",
// or "unix" with a path) and serves its connections on l with h. Loop
// goroutine only (or while the loop is not running).
func (l *Loop) Listen(network, address string, h ConnHandler) (*Listener, error) {
	return l.listen(network, address, h, nil)
}

func (l *Loop) listen(network, address string, h ConnHandler, route func(int)) (*Listener, error) {
	if h == nil {
		return nil, fmt.Errorf("loop: listen: nil handler")
	}
	if l.closedFlag.Load() {
		return nil, fmt.Errorf("loop: listen: %w", ErrClosed)
	}
	fd, addr, file, err := openListener(network, address)
	if err != nil {
		return nil, fmt.Errorf("loop: listen %s %s: %w", network, address, err)
	}
	ln := &Listener{l: l, fd: fd, h: h, addr: addr, file: file, route: route}
	ln.tok = l.alloc(kindListener, fd)
	l.slots[ln.tok.slot].ln = ln
	if err := l.setInterest(ln.tok.slot, Readable); err != nil {
		l.freeSlot(ln.tok.slot)
		ln.closeFd()
		return nil, fmt.Errorf("loop: listen %s %s: %w", network, address, err)
	}
	return ln, nil
}

func openListener(network, address string) (int, net.Addr, socketFile, error) {
	family, sa, path, err := resolveListen(network, address)
	if err != nil {
		return -1, nil, socketFile{}, err
	}
	fd, err := sys.Socket(family, unix.SOCK_STREAM, 0)
	if err != nil {
		return -1, nil, socketFile{}, os.NewSyscallError("socket", err)
	}
	var file socketFile
	fail := func(op string, err error) (int, net.Addr, socketFile, error) {
		file.remove()
		unix.Close(fd)
		return -1, nil, socketFile{}, os.NewSyscallError(op, err)
	}
	if family != unix.AF_UNIX {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if path != "" {
		file = newSocketFile(path)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		return fail("listen", err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	addr := sockaddrToAddr(bound)
	if ua, ok := addr.(*net.UnixAddr); ok && ua.Name == "" {
		ua.Name = address
	}
	return fd, addr, file, nil
}

// socketFile is the file a unix listener's bind created: its path and
// identity. The zero socketFile names none.
type socketFile struct {
	path     string
	dev, ino uint64
}

// newSocketFile records the identity of the socket file just bound at path.
// If it cannot be read (someone removed it already), the result names no
// file: nothing will be removed.
func newSocketFile(path string) socketFile {
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil || uint32(st.Mode)&unix.S_IFMT != unix.S_IFSOCK {
		return socketFile{}
	}
	return socketFile{path: path, dev: uint64(st.Dev), ino: uint64(st.Ino)}
}

// remove unlinks the file if the path still names the same socket.
func (f socketFile) remove() {
	if f.path == "" {
		return
	}
	var st unix.Stat_t
	if unix.Lstat(f.path, &st) != nil || uint32(st.Mode)&unix.S_IFMT != unix.S_IFSOCK ||
		uint64(st.Dev) != f.dev || uint64(st.Ino) != f.ino {
		return
	}
	// Nothing to do about a failure: the file is left behind, as after a crash.
	_ = unix.Unlink(f.path)
}

// Addr returns the bound address (with the port the kernel chose for ":0").
func (ln *Listener) Addr() net.Addr { return ln.addr }

// Fd returns the listening socket (owned by the loop; do not close it), or
// -1 once ln is closed: the number may name another file by then.
func (ln *Listener) Fd() int {
	if ln.closed {
		return -1
	}
	return ln.fd
}

// Close stops accepting and closes the socket (removing a unix socket's
// file, if the path still names it; an abstract address has none).
// Connections already accepted stay open. Idempotent, and a no-op once the
// loop was closed (which closed its listeners). Loop goroutine only.
func (ln *Listener) Close() error {
	if ln.closed {
		return nil
	}
	ln.closed = true
	if ln.retry != nil {
		ln.retry.Stop()
		ln.retry = nil
	}
	// The fd is closed right after; the poller forgets it anyway.
	_ = ln.l.forget(ln.tok.slot)
	return ln.closeFd()
}

func (ln *Listener) closeFd() error {
	err := unix.Close(ln.fd)
	ln.file.remove()
	if err != nil {
		return fmt.Errorf("loop: close listener: %w", os.NewSyscallError("close", err))
	}
	return nil
}

// handle accepts up to the batch limit.
func (ln *Listener) handle() {
	l := ln.l
	if ln.retry != nil {
		return // backing off: an event from before the socket was unwatched
	}
	for i := 0; i < l.cfg.acceptBatch && !ln.closed; i++ {
		fd, _, err := sys.Accept(ln.fd)
		switch {
		case err == unix.EAGAIN:
			return // drained
		case err == unix.ECONNABORTED || err == unix.EPROTO:
			// That connection is gone; the next one may be fine. Nothing
			// to report to anyone.
			l.counts.local[cAcceptErrors]++
			continue
		case err != nil:
			l.counts.local[cAcceptErrors]++
			ln.backOff()
			return
		}
		ln.delay = 0
		l.counts.local[cAccepted]++
		if ln.route != nil {
			ln.route(fd)
			continue
		}
		l.nconns.Add(1)
		// On failure adopt closed fd; the client sees the reset.
		_, _ = l.adopt(fd, ln.h)
	}
}

// backOff stops watching the socket and schedules resume after the next
// delay (see the top of the file).
func (ln *Listener) backOff() {
	l := ln.l
	ln.delay = nextAcceptDelay(ln.delay)
	l.counts.local[cAcceptBackoffs]++
	// Removing a live registration does not fail; and if it did, handle
	// ignores the events until resume.
	_ = l.setInterest(ln.tok.slot, 0)
	ln.retry = l.After(ln.delay, ln.resume)
}

// resume watches the socket again after a backoff: the next poll reports
// it readable if clients wait, and handle tries again.
func (ln *Listener) resume() {
	ln.retry = nil
	if ln.closed {
		return
	}
	if ln.l.setInterest(ln.tok.slot, Readable) != nil {
		ln.backOff() // the poller is short of memory too: later
	}
}
