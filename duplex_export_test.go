package fdring

import (
	"time"

	"github.com/fdring/fdring/ring"
)

// EncodeDuplexHello returns a duplex hello for capacity elements of T
// that claims memSize bytes of memory.
func EncodeDuplexHello[T any](capacity, memSize int) []byte {
	d, _ := ring.Describe[T]()
	h := newHello(d, capacity, memSize, false)
	h.flags |= flagDuplex
	return h.encode()
}

// DuplexLayout returns one ring's size, the second ring's offset and the
// memfd's size of a duplex channel of capacity elements of T.
func DuplexLayout[T any](capacity int) (size, stride, total int) {
	size, stride, total, _ = duplexLayout[T](capacity)
	return size, stride, total
}

// EncodeJoin returns the second half's message carrying tok.
func EncodeJoin(tok [16]byte) []byte { return join{version: protoVersion, token: tok}.encode() }

// DecodeDuplexReply returns the token of an accepting duplex reply, or
// the error a refusal stands for.
func DecodeDuplexReply(b []byte) ([16]byte, error) {
	_, tok, err := decodeDuplexReply(b)
	return tok, err
}

// DecodeReply returns nil for an OK reply, or the error it stands for.
func DecodeReply(b []byte) error {
	_, err := decodeReply(b)
	return err
}

// SetHalfOpenTimeout sets how long l keeps a duplex half waiting for its
// second.
func SetHalfOpenTimeout(l *Listener, d time.Duration) {
	l.mu.Lock()
	l.halfOpen = d
	l.mu.Unlock()
}

// HalfOpen returns how many duplex halves wait for their second at l.
func HalfOpen(l *Listener) int {
	if dx := l.duplex(); dx != nil {
		return dx.halfOpenCount()
	}
	return 0
}

// MaxHandshakes is how many first messages a Listener awaits at once.
const MaxHandshakes = maxHandshakes

// MaxHalfOpen is how many duplex halves wait for their second at once.
const MaxHalfOpen = maxHalfOpen
