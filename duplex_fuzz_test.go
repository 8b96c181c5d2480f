package fdring

import "testing"

// FuzzDecodeJoin: the second half's decoder never panics, and whatever it
// accepts re-encodes to the same bytes.
func FuzzDecodeJoin(f *testing.F) {
	f.Add(join{version: protoVersion, token: token{1, 2, 3}}.encode())
	f.Add([]byte("FDRJ"))
	f.Add(make([]byte, joinSize))
	f.Add(EncodeHello[uint64](64))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := decodeJoin(b)
		if err != nil {
			return
		}
		if got := j.encode(); string(got) != string(b) {
			t.Fatalf("decode/encode changed the join:\n%x\n%x", b, got)
		}
	})
}

// FuzzDecodeDuplexReply: never panics; only an OK reply with known flags
// and a token is accepted, and it re-encodes to the same bytes.
func FuzzDecodeDuplexReply(f *testing.F) {
	f.Add(encodeDuplexReply(reply{status: replyOK}, token{9}))
	f.Add(encodeDuplexReply(reply{status: replyOK, flags: flagPlainStores}, token{}))
	f.Add(reply{status: replyOK}.encode())
	f.Add(reply{status: replyKind}.encode())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, tok, err := decodeDuplexReply(b)
		if err != nil {
			return
		}
		if r.status != replyOK || string(encodeDuplexReply(r, tok)) != string(b) {
			t.Fatalf("accepted %x as %+v %x", b, r, tok)
		}
	})
}

// FuzzDuplexHello: a duplex hello decodes like any hello, keeps its flag,
// and a layout the listener accepts always fits in the memory it names.
func FuzzDuplexHello(f *testing.F) {
	f.Add(EncodeDuplexHello[uint64](64, 2*ringBytes64(64)))
	f.Add(EncodeDuplexHello[byte](1<<20, 1<<21))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHello(b)
		if err != nil || h.flags&flagDuplex == 0 || h.capacity == 0 || h.capacity > 1<<40 {
			return
		}
		size, stride, total, ok := duplexLayout[byte](int(h.capacity))
		if !ok {
			return
		}
		if stride < size || stride%duplexAlign != 0 || total != 2*stride || stride+size > total {
			t.Fatalf("layout %d/%d/%d for capacity %d", size, stride, total, h.capacity)
		}
	})
}

func ringBytes64(capacity int) int {
	_, stride, _, _ := duplexLayout[uint64](capacity)
	return stride
}
