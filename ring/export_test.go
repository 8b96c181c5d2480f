package ring

func Fingerprint[T any]() uint64 {
	d, err := describe[T]()
	if err != nil {
		panic(err)
	}
	return d.fingerprint
}
