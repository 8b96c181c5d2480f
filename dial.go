package fdring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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
// returns the producer side of a new channel: it creates the ring in a
// memfd sealed against shrinking and growing, two eventfds, and passes the
// three fds with a versioned handshake (element size, alignment, layout
// fingerprint, capacity). A consumer whose element type differs refuses
// with ErrTypeMismatch. ctx bounds the connect and the handshake. Options:
// WithSpin.
//
// The connection stays open as the liveness channel: when the consumer's
// process dies, Send returns ErrPeerGone (at the latest on the second call
// after the death was seen); when it closes its side, ErrClosed.
func DialContext[T any](ctx context.Context, path string, capacity int, opts ...Option) (_ *Sender[T], err error) {
	cfg := config{spin: DefaultSpin}
	for _, o := range opts {
		o(&cfg)
	}
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
	var cleanup []func() error
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
			conn.Close()
		}
	}()
	region, err := shm.Create("fdring", size)
	if err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	cleanup = append(cleanup, region.Close)
	r, err := ring.Init[T](region.Bytes(), capacity)
	if err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	data, err := notify.NewEventfd()
	if err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	cleanup = append(cleanup, data.Close)
	space, err := notify.NewEventfd()
	if err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	cleanup = append(cleanup, space.Close)

	if err := conn.SetDeadline(handshakeDeadline(ctx)); err != nil {
		return nil, fmt.Errorf("fdring: dial: %w", err)
	}
	h := hello{
		version:     protoVersion,
		elemSize:    uint32(desc.Size),
		elemAlign:   uint32(desc.Align),
		capacity:    uint64(capacity),
		fingerprint: desc.Fingerprint,
		memSize:     uint64(size),
	}
	if err := shm.SendFds(conn, h.encode(), region.Fd(), data.Fd(), space.Fd()); err != nil {
		return nil, fmt.Errorf("fdring: dial: %w: %w", ErrHandshake, err)
	}
	reply := make([]byte, replySize+1)
	n, err := conn.Read(reply)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, fmt.Errorf("fdring: dial: %w: the consumer hung up during the handshake", ErrHandshake)
		}
		return nil, fmt.Errorf("fdring: dial: %w: %w", ErrHandshake, err)
	}
	if err := decodeReply(reply[:n]); err != nil {
		return nil, err
	}
	region.CloseFd() // the mapping stays; the consumer has its own fd
	conn.SetDeadline(time.Time{})
	c := &channel[T]{ring: r, data: data, space: space, spin: cfg.spin, release: region.Close}
	c.refs.Store(1)
	tx := r.Sender()
	c.watchPeer(conn, tx.Closed, tx.PeerGone)
	return newSender(c), nil
}
