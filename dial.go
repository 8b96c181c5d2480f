package fdring

import (
	"context"
	"errors"
	"fmt"
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
// and growing and passes it with a versioned handshake (element size,
// alignment, layout fingerprint, capacity). A consumer whose element type
// differs refuses with ErrTypeMismatch. ctx bounds the connect and the
// handshake (its cancellation too). Options: WithSpin, WithPeerUIDs,
// WithAnyPeerUID.
//
// The connection stays open and carries the wakeups; the consumer's
// process is watched through its pidfd: when it dies, Send returns
// ErrPeerGone promptly; when it closes its side, ErrClosed.
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
	conn, _, err := dialChecked(ctx, path, cfg.peers)
	if err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	defer conn.Close() // after the handshake its fd lives on as a duplicate

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
	r.SetShared()

	rep, _, err := exchange(ctx, conn, newHello(desc, capacity, size, r.SharedPlain()).encode(), region.Fd(), replySize, decodeTokenless)
	if err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.SetRemotePeer(rep.flags&flagPlainStores != 0)
	region.CloseFd() // the mapping stays; the consumer has its own fd

	tx := r.Sender()
	s, err := remoteSide(conn, r, region, cfg.spin, newSender[T], tx.ReceiverClosed, tx.PeerGone)
	if err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	return s, nil
}

// remoteSide turns a finished handshake into this process's side of the
// channel: a duplicate of the connection's fd carries the wakeups, and it
// and a pidfd of the peer's process tell its death (see watchPeer). The mapping outlives Close (the owner's
// next call retires it, see side) until nothing refers to the ring any
// more; a cleanup then unmaps it (and closes the wakeup fd if Close left
// that to an owner that never came back).
//
// peerClosed reports that the peer closed its side of the ring cleanly;
// peerGone (may be nil) tells this side's ring that the peer is gone.
func remoteSide[T any, S interface{ wakeAll() }](conn *net.UnixConn, r *ring.Ring[T], region *shm.Region, spin time.Duration,
	newSide func(*channel[T]) S, peerClosed func() bool, peerGone func()) (_ S, err error) {
	var zero S
	fd, err := dupConnFd(conn)
	if err != nil {
		return zero, err
	}
	sealConn(fd)
	pidfd, err := peerPidfd(fd)
	if err != nil {
		syscall.Close(fd)
		return zero, err
	}
	wake, err := notify.FromFds(fd, fd)
	if err != nil {
		syscall.Close(fd)
		if pidfd >= 0 {
			syscall.Close(pidfd)
		}
		return zero, err
	}
	c := &channel[T]{ring: r, data: wake, space: wake, spin: spin, region: region,
		peerClosed: peerClosed, peerGone: peerGone}
	side := newSide(c)
	c.refs.Store(1)
	c.wakeAll = side.wakeAll
	if err := c.watchPeer(pidfd, fd); err != nil {
		wake.Close()
		return zero, err
	}
	runtime.AddCleanup(r, func(m mapped) { m.close() }, mapped{region, wake})
	return side, nil
}

// mapped is what a cross-process channel leaves for the cleanup that runs
// once its ring is unreachable: the mapping, and the wakeup fd if Close
// left closing it to an owner that never came back (both idempotent).
type mapped struct {
	region *shm.Region
	wake   notify.Notifier
}

func (m mapped) close() {
	m.wake.Close()
	m.region.Close()
}
