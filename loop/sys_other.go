//go:build unix && !linux

package loop

// pollRDHUP is zero: only Linux's poll(2) reports a peer's half-close
// (POLLRDHUP); elsewhere it shows as readable, and a read returns 0.
const pollRDHUP = 0

// Without epoll, poll(2) is the default backend.
func newDefaultPoller(maxEvents int) (poller, error) { return newPollPoller(maxEvents), nil }

// unixAbstract reports whether a unix socket address names an abstract
// socket, which has no file. Only Linux has them: elsewhere "@name" is a
// path like any other.
func unixAbstract(address string) bool { return false }
