package handlers

// ParseEvioAddr exposes the evio address parser to the external tests.
func ParseEvioAddr(s string) (network, address string, err error) {
	a, err := parseEvioAddr(s)
	return a.network, a.address, err
}
