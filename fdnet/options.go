package fdnet

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/fdring/fdring"
)

// Buffer sizes, per direction.
const (
	// DefaultBufferSize is the ring size per direction when WithBufferSize
	// is not given.
	DefaultBufferSize = 256 << 10
	// MaxBufferSize bounds WithBufferSize: larger rings only cost memory
	// (two of them per connection) and move no faster.
	MaxBufferSize = 1 << 30
)

// Option configures Pipe, Listen and Dial.
type Option func(*config)

type config struct {
	bufSize int
	spin    *time.Duration // nil: fdring's default
	uids    []int
	anyUID  bool
}

// WithBufferSize sets the size in bytes of the ring in each direction,
// rounded up to a power of two. Sizes outside 1..MaxBufferSize make the
// constructor fail.
func WithBufferSize(bytes int) Option {
	return func(c *config) { c.bufSize = bytes }
}

// WithSpin sets how long a blocked Read or Write polls its ring before it
// sleeps on its wakeup fd (see fdring.WithSpin; the default is
// fdring.DefaultSpin, 0 sleeps at once).
func WithSpin(d time.Duration) Option {
	return func(c *config) { c.spin = &d }
}

// WithPeerUIDs also accepts peers running as these users: for Dial, the
// listening process; for Listen, dialing processes. By default both sides
// only talk to a peer of their own effective uid (SO_PEERCRED).
func WithPeerUIDs(uids ...int) Option {
	return func(c *config) { c.uids = append(c.uids, uids...) }
}

// WithAnyPeerUID accepts a peer of any user (see WithPeerUIDs). Use it
// only with a socket path other users cannot create or reach.
func WithAnyPeerUID() Option {
	return func(c *config) { c.anyUID = true }
}

func newConfig(opts []Option) (config, error) {
	c := config{bufSize: DefaultBufferSize}
	for _, o := range opts {
		o(&c)
	}
	if c.bufSize < 1 || c.bufSize > MaxBufferSize {
		return c, fmt.Errorf("fdnet: buffer size %d outside 1..%d", c.bufSize, MaxBufferSize)
	}
	c.bufSize = 1 << bits.Len(uint(c.bufSize-1))
	return c, nil
}

// ringOptions are the fdring options of one direction's channel (and of a
// duplex dial: the spin and which listeners to talk to).
func (c *config) ringOptions() []fdring.Option {
	var opts []fdring.Option
	if c.spin != nil {
		opts = append(opts, fdring.WithSpin(*c.spin))
	}
	if len(c.uids) > 0 {
		opts = append(opts, fdring.WithPeerUIDs(c.uids...))
	}
	if c.anyUID {
		opts = append(opts, fdring.WithAnyPeerUID())
	}
	return opts
}
