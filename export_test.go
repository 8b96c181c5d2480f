package fdring

import "github.com/fdring/fdring/ring"

// EncodeHello returns the handshake Dial would send for a ring of capacity
// elements of T.
func EncodeHello[T any](capacity int) []byte {
	d, _ := ring.Describe[T]()
	return hello{
		version:     protoVersion,
		elemSize:    uint32(d.Size),
		elemAlign:   uint32(d.Align),
		capacity:    uint64(capacity),
		fingerprint: d.Fingerprint,
		memSize:     uint64(ring.Size[T](capacity)),
	}.encode()
}
