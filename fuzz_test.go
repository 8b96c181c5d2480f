package fdring

import (
	"testing"
)

// FuzzDecodeHello: the handshake decoder never panics, and whatever it
// accepts re-encodes to the same bytes.
func FuzzDecodeHello(f *testing.F) {
	f.Add(EncodeHello[uint64](64))
	f.Add(EncodeHello[[16]byte](1 << 20))
	f.Add([]byte{})
	f.Add([]byte("FDRH"))
	f.Add(make([]byte, helloSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHello(b)
		if err != nil {
			return
		}
		if got := h.encode(); string(got) != string(b) {
			t.Fatalf("decode/encode changed the hello:\n%x\n%x", b, got)
		}
	})
}

// FuzzDecodeReply: never panics; only an OK reply with known flags is
// accepted, and it re-encodes to the same bytes.
func FuzzDecodeReply(f *testing.F) {
	f.Add(reply{status: replyOK}.encode())
	f.Add(reply{status: replyOK, flags: flagPlainStores}.encode())
	f.Add(reply{status: replyMismatch}.encode())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeReply(b)
		if err != nil {
			return
		}
		if r.status != replyOK || string(r.encode()) != string(b) {
			t.Fatalf("accepted %x as %+v", b, r)
		}
	})
}
