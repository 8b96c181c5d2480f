package fdring

import "github.com/fdring/fdring/ring"

// EncodeHello returns the handshake Dial would send for a ring of capacity
// elements of T.
func EncodeHello[T any](capacity int) []byte {
	d, _ := ring.Describe[T]()
	return newHello(d, capacity, ring.Size[T](capacity), false).encode()
}
