package fdring

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/fdring/fdring/ring"
)

// The cross-process handshake. Dial connects a SOCK_SEQPACKET unix socket
// and sends one hello message carrying one fd (SCM_RIGHTS): the ring's
// memfd. Accept answers with one reply message. Both are fixed-size, native-endian (both ends run on one
// machine) and versioned:
//
//	hello (48 bytes)                    reply (16 bytes)
//	 0  4  magic "FDRH"                  0  4  magic "FDRA"
//	 4  2  protocol version (2)          4  4  status (replyOK, ...)
//	 6  2  flags (flagPlainStores,       8  4  flags (flagPlainStores)
//	       flagDuplex)
//	 8  4  element size                 12  4  reserved (0)
//	12  4  element alignment
//	16  8  capacity (elements)
//	24  8  type fingerprint
//	32  8  memory size (bytes)
//	40  8  reserved (0)
//
// After the handshake the connection carries the wakeups of both
// directions (one-byte messages, always sent and received with
// MSG_DONTWAIT) and no more fds (SO_PASSRIGHTS off); the peer's death is
// watched through its pidfd (see peer_linux.go). No fd is shared with the
// peer but the memfd: each end of the connection is a file description
// only its own process ever held, so the peer cannot change its status
// flags, hold its receive lock or read its queue, and an eventfd's counter,
// semaphore mode and flags, which would be the peer's to set, are not used
// at all.
//
// flagPlainStores says that the sender of the message publishes its ring
// index with plain stores, so the other side must make a global membarrier
// before it sleeps (ring.Ring.SetRemotePeer). This package does not set it
// today (ring.Ring.SetShared says why) but honours it from a peer.
const (
	helloSize       = 48
	replySize       = 16
	helloMagic      = 0x48524446 // "FDRH" little-endian
	replyMagic      = 0x41524446 // "FDRA"
	protoVersion    = 2
	handshakeFds    = 1
	flagPlainStores = 1
	flagDuplex      = 2 // the hello opens a duplex connection (see duplex.go)
	knownFlags      = flagPlainStores | flagDuplex
	replyOK         = 0
	replyMismatch   = 1 // element type differs
	replyBad        = 2 // malformed hello or unusable fds
	replyFence      = 3 // the peer publishes with plain stores and this side cannot fence
	replyKind       = 4 // one-way hello at a duplex accept, or the reverse
)

// ErrKindMismatch: the peer wants the other kind of channel: a one-way
// Dial reached AcceptDuplex, or DialDuplex reached a one-way Accept.
// Errors that wrap it also wrap ErrTypeMismatch.
var ErrKindMismatch = errors.New("fdring: one-way and duplex channels mixed")

// ErrHandshake: the peer's handshake was malformed, truncated, of another
// protocol version, or carried unusable fds.
var ErrHandshake = errors.New("fdring: bad handshake")

// HandshakeTimeout bounds how long Accept waits for a connected peer's
// hello, and Dial for the consumer's reply, when the context sets no
// earlier deadline: a silent peer cannot hold either side forever.
const HandshakeTimeout = 10 * time.Second

type hello struct {
	version     uint16
	flags       uint16
	elemSize    uint32
	elemAlign   uint32
	capacity    uint64
	fingerprint uint64
	memSize     uint64
}

// newHello describes a ring of capacity elements of T made by this
// process, which publishes its index with plain stores if plain.
func newHello(desc ring.TypeInfo, capacity, memSize int, plain bool) hello {
	h := hello{
		version:     protoVersion,
		elemSize:    uint32(desc.Size),
		elemAlign:   uint32(desc.Align),
		capacity:    uint64(capacity),
		fingerprint: desc.Fingerprint,
		memSize:     uint64(memSize),
	}
	if plain {
		h.flags |= flagPlainStores
	}
	return h
}

func (h hello) encode() []byte {
	b := make([]byte, helloSize)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], helloMagic)
	ne.PutUint16(b[4:], h.version)
	ne.PutUint16(b[6:], h.flags)
	ne.PutUint32(b[8:], h.elemSize)
	ne.PutUint32(b[12:], h.elemAlign)
	ne.PutUint64(b[16:], h.capacity)
	ne.PutUint64(b[24:], h.fingerprint)
	ne.PutUint64(b[32:], h.memSize)
	return b
}

// decodeHello parses a hello message. It checks framing only (length,
// magic, version, reserved fields); checkHello checks the values.
func decodeHello(b []byte) (hello, error) {
	if len(b) != helloSize {
		return hello{}, fmt.Errorf("%w: hello of %d bytes, want %d", ErrHandshake, len(b), helloSize)
	}
	ne := binary.NativeEndian
	if m := ne.Uint32(b[0:]); m != helloMagic {
		return hello{}, fmt.Errorf("%w: hello magic %#x", ErrHandshake, m)
	}
	h := hello{
		version:     ne.Uint16(b[4:]),
		flags:       ne.Uint16(b[6:]),
		elemSize:    ne.Uint32(b[8:]),
		elemAlign:   ne.Uint32(b[12:]),
		capacity:    ne.Uint64(b[16:]),
		fingerprint: ne.Uint64(b[24:]),
		memSize:     ne.Uint64(b[32:]),
	}
	if h.version != protoVersion {
		return hello{}, fmt.Errorf("%w: protocol version %d, this side speaks %d", ErrHandshake, h.version, protoVersion)
	}
	if h.flags&^knownFlags != 0 || ne.Uint64(b[40:]) != 0 {
		return hello{}, fmt.Errorf("%w: unknown flags", ErrHandshake)
	}
	return h, nil
}

// checkHello validates a decoded hello against the element type this side
// expects. It returns the reply status and the error to report.
func checkHello[T any](h hello, desc ring.TypeInfo, maxMemory int64) (uint32, error) {
	if uintptr(h.elemSize) != desc.Size || uintptr(h.elemAlign) != desc.Align || h.fingerprint != desc.Fingerprint {
		return replyMismatch, fmt.Errorf("%w: peer sends %d-byte elements (align %d, fingerprint %#x), %s is %d bytes (align %d, fingerprint %#x)",
			ErrTypeMismatch, h.elemSize, h.elemAlign, h.fingerprint, desc.Name, desc.Size, desc.Align, desc.Fingerprint)
	}
	if h.capacity == 0 || h.capacity > ring.MaxCapacity || uint64(ring.Size[T](int(h.capacity))) != h.memSize {
		return replyBad, fmt.Errorf("%w: capacity %d with %d bytes of memory", ErrHandshake, h.capacity, h.memSize)
	}
	if h.memSize > uint64(maxMemory) {
		return replyBad, fmt.Errorf("%w: %d bytes of ring memory, this listener takes at most %d (Listener.SetMaxMemory)", ErrHandshake, h.memSize, maxMemory)
	}
	if h.flags&flagPlainStores != 0 && !ring.CanFenceRemote() {
		return replyFence, fmt.Errorf("%w: the producer publishes with plain stores and this process cannot fence them (membarrier)", ErrHandshake)
	}
	return replyOK, nil
}

type reply struct {
	status uint32
	flags  uint32
}

// newReply is this process's answer with status; plain: it publishes its
// index with plain stores.
func newReply(status uint32, plain bool) reply {
	r := reply{status: status}
	if plain {
		r.flags |= flagPlainStores
	}
	return r
}

func (r reply) encode() []byte {
	b := make([]byte, replySize)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], replyMagic)
	ne.PutUint32(b[4:], r.status)
	ne.PutUint32(b[8:], r.flags)
	return b
}

// decodeReply returns the consumer's flags for replyOK and the error the
// status stands for otherwise.
func decodeReply(b []byte) (reply, error) {
	ne := binary.NativeEndian
	if len(b) != replySize || ne.Uint32(b) != replyMagic || ne.Uint32(b[12:]) != 0 {
		return reply{}, fmt.Errorf("%w: malformed reply", ErrHandshake)
	}
	r := reply{status: ne.Uint32(b[4:]), flags: ne.Uint32(b[8:])}
	if r.flags&^flagPlainStores != 0 {
		return reply{}, fmt.Errorf("%w: unknown reply flags %#x", ErrHandshake, r.flags)
	}
	switch r.status {
	case replyOK:
		if r.flags&flagPlainStores != 0 && !ring.CanFenceRemote() {
			return reply{}, fmt.Errorf("%w: the consumer publishes with plain stores and this process cannot fence them (membarrier)", ErrHandshake)
		}
		return r, nil
	case replyMismatch:
		return reply{}, fmt.Errorf("fdring: dial: the consumer refused the element type: %w", ErrTypeMismatch)
	case replyBad:
		return reply{}, fmt.Errorf("fdring: dial: the consumer refused the handshake: %w", ErrHandshake)
	case replyFence:
		return reply{}, fmt.Errorf("fdring: dial: the consumer cannot fence plain stores: %w", ErrHandshake)
	case replyKind:
		return reply{}, kindErr("the listener")
	default:
		return reply{}, fmt.Errorf("%w: reply status %d", ErrHandshake, r.status)
	}
}

// kindErr is the error for a peer (who) that expects the other kind of
// channel.
func kindErr(who string) error {
	return fmt.Errorf("fdring: %s expects the other kind of channel (one-way or duplex): %w (%w)", who, ErrKindMismatch, ErrTypeMismatch)
}

func handshakeDeadline(ctx context.Context) time.Time {
	d := time.Now().Add(HandshakeTimeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// cancelConn makes a handshake blocked on conn's fd end when ctx is
// cancelled (a cancellation, not only a deadline): it sets a past deadline.
// The returned stop must be called when the handshake is over.
func cancelConn(ctx context.Context, setDeadline func(time.Time) error) (stop func() bool) {
	return context.AfterFunc(ctx, func() { setDeadline(time.Unix(1, 0)) })
}

// handshakeErr explains a handshake I/O error, preferring the context's.
func handshakeErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: timed out: %w", ErrHandshake, err)
	}
	return fmt.Errorf("%w: %w", ErrHandshake, err)
}
