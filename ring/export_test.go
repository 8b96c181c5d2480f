package ring

// Offsets of the shared header, for TestLayout and the corruption tests.
const (
	OffMagic       = 0
	OffVersion     = 8
	OffHeaderSize  = 12
	OffElemSize    = 16
	OffElemAlign   = 20
	OffCapacity    = 24
	OffFingerprint = 32
	OffTail        = 128
	OffHead        = 256
	OffRxState     = 384
	OffTxState     = 512
)

func Fingerprint[T any]() uint64 {
	d, err := describe[T]()
	if err != nil {
		panic(err)
	}
	return d.fingerprint
}
