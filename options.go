package fdring

import (
	"time"

	"github.com/fdring/fdring/notify"
)

// DefaultSpin is how long SendWait and RecvWait poll the ring before they
// arm their fd and sleep. A sleep and wakeup costs tens of microseconds on
// a typical machine; a peer that answers within the spin is picked up in
// well under one.
const DefaultSpin = 5 * time.Microsecond

// Option configures New.
type Option func(*config)

// NotifierKind selects the wakeup fds New creates.
type NotifierKind int

const (
	// Eventfd: one eventfd per direction (Linux; elsewhere New falls back
	// to pipes). The default.
	Eventfd NotifierKind = iota
	// Pipe: one pipe per direction, on any Unix.
	Pipe
)

type config struct {
	kind        NotifierKind
	mem         []byte
	data, space notify.Notifier
	spin        time.Duration
	peers       peerPolicy
}

func newConfig(opts []Option) config {
	cfg := config{spin: DefaultSpin}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// WithPeerUIDs makes Dial also accept a listener running as these users.
// By default Dial only talks to a listener of our own effective uid
// (SO_PEERCRED): a process of another user that squats the socket path
// would otherwise receive the ring's memory.
func WithPeerUIDs(uids ...int) Option {
	return func(c *config) { c.peers.uids = append(c.peers.uids, uids...) }
}

// WithAnyPeerUID makes Dial talk to a listener of any user. Use it only
// with a socket path no other user can create.
func WithAnyPeerUID() Option {
	return func(c *config) { c.peers.any = true }
}

// WithNotifier selects the kind of wakeup fds New creates.
func WithNotifier(kind NotifierKind) Option {
	return func(c *config) { c.kind = kind }
}

// WithNotifiers makes New use the caller's notifiers instead of creating
// its own: data is signalled by the sender and waited on by the receiver,
// space the other way round. The channel takes ownership: it closes them
// when both sides are closed.
func WithNotifiers(data, space notify.Notifier) Option {
	return func(c *config) { c.data, c.space = data, space }
}

// WithMemory lays the ring out in mem instead of a fresh heap allocation:
// memory the caller allocated the way it prefers (a huge page, a mapping,
// a pool). mem must be at least ring.Size[T](capacity) bytes, 8-byte
// aligned (128 is better), and outlive both sides.
func WithMemory(mem []byte) Option {
	return func(c *config) { c.mem = mem }
}

// WithSpin sets how long SendWait and RecvWait poll before they sleep
// (default DefaultSpin; 0 sleeps at once).
func WithSpin(d time.Duration) Option {
	return func(c *config) { c.spin = max(d, 0) }
}
