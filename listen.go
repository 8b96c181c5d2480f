package fdring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/fdring/fdring/ring"
	"github.com/fdring/fdring/shm"
)

// ErrNotAllowed: the connecting process runs as a user the Listener does not
// accept (see Listener.AllowUIDs).
var ErrNotAllowed = errors.New("fdring: peer not allowed")

// Listener accepts producers from other processes on a unix socket. Each
// accepted connection is one channel: the producer (Dial) creates the ring
// in a sealed memfd and passes that one fd over the socket; the connection
// itself (SOCK_SEQPACKET) then carries both sides' wakeups. A Dial completes
// while an Accept is in progress: the handshake is read by Accept.
type Listener struct {
	ln   *net.UnixListener
	path string

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	dxOnce    sync.Once
	dx        *duplexAcceptor // AcceptDuplex's machinery, started on first use (nil after Close)

	mu        sync.Mutex
	peers     peerPolicy
	maxMemory int64
	halfOpen  time.Duration // how long a duplex half waits for its second (HandshakeTimeout)
	// gen counts AcceptContext calls: a cancelled call's context callback
	// that runs late (after the next call set its deadline) sees a newer
	// gen and leaves the deadline alone.
	gen uint64
}

// peerPolicy says which users a side talks to (SO_PEERCRED of the socket):
// its own effective uid, the listed ones, or anyone.
type peerPolicy struct {
	uids []int
	any  bool
}

func (p peerPolicy) allowed(uid int) bool {
	return p.any || uid == os.Geteuid() || slices.Contains(p.uids, uid)
}

// checkPeerUID verifies who is on the other end of conn.
func checkPeerUID(conn *net.UnixConn, p peerPolicy) (pid, uid int, err error) {
	pid, uid, _, err = shm.PeerCred(conn)
	if err == nil && !p.allowed(uid) {
		err = fmt.Errorf("%w: uid %d", ErrNotAllowed, uid)
	}
	return pid, uid, err
}

// Listen creates the unix socket at path (mode 0600) and listens on it. A
// stale socket file at path that no process listens on any more is
// replaced; any other existing file is an error. Close removes the file.
func Listen(path string) (*Listener, error) {
	ln, err := listenUnix(path)
	if errors.Is(err, syscall.EADDRINUSE) && staleSocket(path) {
		os.Remove(path)
		ln, err = listenUnix(path)
	}
	if err != nil {
		return nil, fmt.Errorf("fdring: listen: %w", err)
	}
	// The file is created under the umask; narrow it to the owner. A peer
	// of another user that connects in between is refused by the
	// credentials check in Accept anyway.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("fdring: listen: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	return &Listener{ln: ln, path: path, maxMemory: DefaultMaxMemory, halfOpen: HandshakeTimeout, done: make(chan struct{})}, nil
}

func listenUnix(path string) (*net.UnixListener, error) {
	return net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
}

// staleSocket reports whether path is a socket file nobody listens on.
func staleSocket(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return false
	}
	c, err := net.DialTimeout("unixpacket", path, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// AllowUIDs makes Accept also accept producers running as these users. By
// default only our own effective uid is accepted (SO_PEERCRED).
func (l *Listener) AllowUIDs(uids ...int) {
	l.mu.Lock()
	l.peers.uids = append(l.peers.uids, uids...)
	l.mu.Unlock()
}

// AllowAnyUID makes Accept accept producers of every user that can open the
// socket file. Use with a socket whose directory or mode restricts access.
func (l *Listener) AllowAnyUID() {
	l.mu.Lock()
	l.peers.any = true
	l.mu.Unlock()
}

func (l *Listener) policy() peerPolicy {
	l.mu.Lock()
	defer l.mu.Unlock()
	return peerPolicy{uids: slices.Clone(l.peers.uids), any: l.peers.any}
}

// DefaultMaxMemory is the most ring memory Accept maps for one producer
// unless SetMaxMemory says otherwise: the size is the producer's word, and
// a sparse memfd costs it nothing while the consumer's address space is
// finite.
const DefaultMaxMemory = 1 << 30

// SetMaxMemory sets the most ring memory, in bytes, Accept maps for one
// producer (a larger ring is refused with ErrHandshake).
func (l *Listener) SetMaxMemory(bytes int64) {
	l.mu.Lock()
	l.maxMemory = bytes
	l.mu.Unlock()
}

// Path returns the socket's path.
func (l *Listener) Path() string { return l.path }

// Close stops listening and removes the socket file. A blocked
// AcceptDuplex returns an error wrapping ErrClosed; duplex connections
// still in their handshake are closed. Channels already accepted are not
// affected. Idempotent.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	err := l.ln.Close()
	l.dxOnce.Do(func() {}) // no acceptor starts from now on
	if l.dx != nil {
		l.dx.shutdown()
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("fdring: listener close: %w", err)
	}
	return nil
}

// Accept waits for the next producer and returns the consumer side of its
// channel. See AcceptContext.
func Accept[T any](l *Listener) (*Receiver[T], error) {
	return AcceptContext[T](context.Background(), l)
}

// AcceptContext waits for the next producer, until ctx ends, and returns the
// consumer side of its channel. It checks, in order, before it maps any
// memory: the peer's uid (SO_PEERCRED), the handshake (version, element
// size, alignment and layout fingerprint against T: ErrTypeMismatch), that
// the memory fd is a memfd sealed against shrinking and growing, of exactly
// the size the ring needs, and that no other fd came with it; then it
// validates the ring header. Any failure closes everything the peer sent and
// returns a wrapped error (ErrNotAllowed, ErrTypeMismatch, ErrHandshake,
// ErrCorrupt, ...); the Listener stays usable. Call Accept from one
// goroutine at a time.
//
// The connection stays open as the liveness channel: when the producer's
// process dies, the Receiver delivers everything it had committed and then
// ErrPeerGone; when it closes cleanly, io.EOF.
func AcceptContext[T any](ctx context.Context, l *Listener) (*Receiver[T], error) {
	desc, err := ring.Describe[T]()
	if err != nil {
		return nil, fmt.Errorf("fdring: accept: %w", err)
	}
	conn, err := l.accept(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	maxMemory := l.maxMemory
	l.mu.Unlock()
	rx, err := handshakeAccept[T](ctx, conn, l.policy(), maxMemory, desc)
	conn.Close() // after the handshake its fd lives on as a duplicate
	if err != nil {
		return nil, fmt.Errorf("fdring: accept: %w", err)
	}
	return rx, nil
}

// accept waits for the next connection until ctx ends.
func (l *Listener) accept(ctx context.Context) (*net.UnixConn, error) {
	d, _ := ctx.Deadline()
	l.mu.Lock()
	l.gen++
	gen := l.gen
	err := l.ln.SetDeadline(d)
	l.mu.Unlock()
	if err != nil {
		return nil, acceptErr(err)
	}
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		if l.gen == gen {
			l.ln.SetDeadline(time.Unix(1, 0))
		}
		l.mu.Unlock()
	})
	conn, err := l.ln.AcceptUnix()
	stop()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if d, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(d) {
			return nil, context.DeadlineExceeded // the listener's timer beat the context's
		}
		return nil, acceptErr(err)
	}
	return conn, nil
}

func handshakeAccept[T any](ctx context.Context, conn *net.UnixConn, peers peerPolicy, maxMemory int64, desc ring.TypeInfo) (_ *Receiver[T], err error) {
	if _, _, err := checkPeerUID(conn, peers); err != nil {
		return nil, err
	}
	if err := conn.SetDeadline(handshakeDeadline(ctx)); err != nil {
		return nil, err
	}
	stop := cancelConn(ctx, conn.SetDeadline)
	defer stop()
	buf := make([]byte, helloSize)
	n, fds, err := shm.RecvFds(conn, buf, handshakeFds)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: peer hung up before its hello", ErrHandshake)
		}
		return nil, handshakeErr(ctx, err)
	}
	// Until they are handed on, every received fd is ours to close.
	defer func() {
		if err != nil {
			for _, fd := range fds {
				if fd >= 0 {
					syscall.Close(fd)
				}
			}
		}
	}()
	reject := func(status uint32, err error) error {
		conn.Write(newReply(status, false).encode())
		return err
	}
	h, err := decodeHello(buf[:n])
	if err != nil {
		return nil, reject(replyBad, err)
	}
	if len(fds) != handshakeFds {
		return nil, reject(replyBad, fmt.Errorf("%w: %d fds, want %d", ErrHandshake, len(fds), handshakeFds))
	}
	if h.flags&flagDuplex != 0 {
		return nil, reject(replyKind, kindErr("the dialer (DialDuplex)"))
	}
	if status, err := checkHello[T](h, desc, maxMemory); err != nil {
		return nil, reject(status, err)
	}
	region, err := shm.Map(fds[0], int(h.memSize))
	if err != nil {
		return nil, reject(replyBad, fmt.Errorf("%w: %w", ErrHandshake, err))
	}
	fds[0] = -1 // the region owns it now
	region.CloseFd()
	defer func() {
		if err != nil {
			region.Close()
		}
	}()
	r, err := ring.Open[T](region.Bytes())
	if err != nil {
		return nil, reject(replyBad, err)
	}
	if uint64(r.Cap()) != h.capacity {
		return nil, reject(replyBad, fmt.Errorf("%w: header capacity %d, hello says %d", ErrHandshake, r.Cap(), h.capacity))
	}
	r.SetShared()
	r.SetRemotePeer(h.flags&flagPlainStores != 0)
	if _, err := conn.Write(newReply(replyOK, r.SharedPlain()).encode()); err != nil {
		return nil, fmt.Errorf("%w: the producer hung up during the handshake: %w", ErrHandshake, err)
	}
	if !stop() && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	conn.SetDeadline(time.Time{})
	return remoteSide(conn, r, region, DefaultSpin, newReceiver[T], r.Receiver().SenderClosed, nil)
}

func acceptErr(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("fdring: accept: listener closed: %w", ErrClosed)
	}
	return fmt.Errorf("fdring: accept: %w", err)
}
