package handlers

// ParseEvioAddr exposes the evio address parser to the external tests.
func ParseEvioAddr(s string) (network, address string, reusePort bool, err error) {
	a, err := parseEvioAddr(s)
	return a.network, a.address, a.reusePort, err
}
