package fdring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"syscall"
	"time"

	"github.com/fdring/fdring/notify"
	"github.com/fdring/fdring/ring"
	"github.com/fdring/fdring/shm"
)

// Dial connects to the consumer listening at path and returns the producer
// side of a new channel of capacity elements of T. See DialContext.
func Dial[T any](path string, capacity int) (*Sender[T], error) {
	return DialContext[T](context.Background(), path, capacity)
}

// DialContext connects to the consumer listening at path (see Listen) and
// returns the producer side of a new channel. It first checks who listens
// (SO_PEERCRED: the same effective uid as ours, or one allowed with
// WithPeerUIDs), then creates the ring in a memfd sealed against shrinking
// and growing and a socketpair for wakeups, and passes both with a
// versioned handshake (element size, alignment, layout fingerprint,
// capacity). A consumer whose element type differs refuses with
// ErrTypeMismatch. ctx bounds the connect and the handshake. Options:
// WithSpin, WithPeerUIDs, WithAnyPeerUID.
//
// The two sockets stay open as the wakeup and liveness channels: when the
// consumer's process dies, Send returns ErrPeerGone promptly; when it
// closes its side, ErrClosed.
func DialContext[T any](ctx context.Context, path string, capacity int, opts ...Option) (_ *Sender[T], err error) {
	cfg := newConfig(opts)
	if cfg.mem != nil || cfg.data != nil {
		return nil, errors.New("fdring: dial: WithMemory and WithNotifiers do not apply across processes")
	}
	desc, err := ring.Describe[T]()
	if err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	size := ring.Size[T](capacity)
	if size == 0 {
		_, err := ring.Init[T](nil, capacity)
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unixpacket", path)
	if err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	conn := nc.(*net.UnixConn)
	defer conn.Close() // after the handshake its fd lives on as a duplicate
	if err := checkPeerUID(conn, cfg.peers); err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}

	region, err := shm.Create("fdring", size)
	if err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	defer func() {
		if err != nil {
			region.Close()
		}
	}()
	r, err := ring.Init[T](region.Bytes(), capacity)
	if err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	pair, err := wakePair()
	if err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	in := pair[0] // the consumer's space-ready signals arrive here
	defer func() {
		if err != nil && in >= 0 {
			syscall.Close(in)
		}
	}()

	if err := conn.SetDeadline(handshakeDeadline(ctx)); err != nil {
		syscall.Close(pair[1])
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	err = shm.SendFds(conn, newHello(desc, capacity, size).encode(), region.Fd(), pair[1])
	syscall.Close(pair[1]) // the consumer has its own now
	if err != nil {
		return nil, fmt.Errorf("fdring: dial: %w: %w", ErrHandshake, err)
	}
	buf := make([]byte, replySize+1)
	n, err := conn.Read(buf)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, fmt.Errorf("fdring: dial: %w: the consumer hung up during the handshake", ErrHandshake)
		}
		return nil, fmt.Errorf("fdring: dial: %w: %w", ErrHandshake, err)
	}
	rep, err := decodeReply(buf[:n])
	if err != nil {
		return nil, err
	}
	r.SetRemotePeer(rep.flags&flagPlainStores != 0)
	region.CloseFd() // the mapping stays; the consumer has its own fd
	conn.SetDeadline(time.Time{})

	out, err := dupConnFd(conn) // our data-ready signals go here
	if err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	wake, err := notify.FromFds(in, out)
	if err != nil {
		syscall.Close(out)
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	in = -1 // the notifier owns both now
	tx := r.Sender()
	c := &channel[T]{ring: r, data: wake, space: wake, spin: cfg.spin, region: region, inFd: wake.Fd(),
		peerClosed: tx.ReceiverClosed, peerGone: tx.PeerGone}
	c.refs.Store(1)
	s := newSender(c)
	c.wakeAll = s.interrupt
	if err := c.watchPeer(out); err != nil {
		wake.Close()
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	// The mapping outlives Close (which retires it to private zero pages,
	// so a call still in flight never faults) until nothing refers to the
	// ring any more.
	runtime.AddCleanup(r, func(m mapped) { m.close() }, mapped{region, wake})
	return s, nil
}

// mapped is what a cross-process channel leaves for the cleanup that runs
// once its ring is unreachable: the mapping, and the wakeup fds if Close
// left closing them to an owner that never came back (both idempotent).
type mapped struct {
	region *shm.Region
	wake   notify.Notifier
}

func (m mapped) close() {
	m.wake.Close()
	m.region.Close()
}
