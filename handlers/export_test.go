package handlers

import "github.com/fdring/fdring/loop"

// ParseEvioAddr exposes the evio address parser to the external tests.
func ParseEvioAddr(s string) (network, address string, err error) {
	a, err := parseEvioAddr(s)
	return a.network, a.address, err
}

// ServeOnce runs one dispatch of c, as the loop does when its ring is Ready.
func (c *Consumer[T]) ServeOnce() { c.serve(c.tok, loop.EventReady) }
