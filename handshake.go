package fdring

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The cross-process handshake. Dial sends one hello message carrying three
// fds (SCM_RIGHTS): the ring's memfd, the data-ready eventfd and the
// space-ready eventfd. Accept answers with one reply message. Both are
// fixed-size, native-endian (both ends run on one machine) and versioned:
//
//	hello (48 bytes)                    reply (8 bytes)
//	 0  4  magic "FDRH"                  0  4  magic "FDRA"
//	 4  2  protocol version (1)          4  4  status (replyOK, ...)
//	 6  2  flags (0)
//	 8  4  element size
//	12  4  element alignment
//	16  8  capacity (elements)
//	24  8  type fingerprint
//	32  8  memory size (bytes)
//	40  8  reserved (0)
const (
	helloSize     = 48
	replySize     = 8
	helloMagic    = 0x48524446 // "FDRH" little-endian
	replyMagic    = 0x41524446 // "FDRA"
	protoVersion  = 1
	handshakeFds  = 3
	replyOK       = 0
	replyMismatch = 1 // element type differs
	replyBad      = 2 // malformed hello or unusable fds
)

// ErrHandshake: the peer's handshake was malformed, truncated, of another
// protocol version, or carried unusable fds.
var ErrHandshake = errors.New("fdring: bad handshake")

type hello struct {
	version     uint16
	flags       uint16
	elemSize    uint32
	elemAlign   uint32
	capacity    uint64
	fingerprint uint64
	memSize     uint64
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
// magic, version, reserved fields); the values are checked against the
// receiver's element type by the caller.
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
	if h.flags != 0 || ne.Uint64(b[40:]) != 0 {
		return hello{}, fmt.Errorf("%w: unknown flags", ErrHandshake)
	}
	return h, nil
}

func encodeReply(status uint32) []byte {
	b := make([]byte, replySize)
	binary.NativeEndian.PutUint32(b[0:], replyMagic)
	binary.NativeEndian.PutUint32(b[4:], status)
	return b
}

// decodeReply returns nil for replyOK and the error the status stands for
// otherwise.
func decodeReply(b []byte) error {
	if len(b) != replySize || binary.NativeEndian.Uint32(b) != replyMagic {
		return fmt.Errorf("%w: malformed reply", ErrHandshake)
	}
	switch s := binary.NativeEndian.Uint32(b[4:]); s {
	case replyOK:
		return nil
	case replyMismatch:
		return fmt.Errorf("fdring: dial: the consumer refused the element type: %w", ErrTypeMismatch)
	case replyBad:
		return fmt.Errorf("fdring: dial: the consumer refused the handshake: %w", ErrHandshake)
	default:
		return fmt.Errorf("%w: reply status %d", ErrHandshake, s)
	}
}
