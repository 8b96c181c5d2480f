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
	// is not given. A bulk transfer wakes a sleeping side about once per
	// ring's worth of data, so the ring must be large next to a wakeup:
	// measured between two processes (64 KiB writes, waits that sleep),
	// 256 KiB rings moved 2.6-3.1 GB/s, 1 MiB rings 4.2-9 GB/s, 2 and
	// 4 MiB no more than 1 MiB within the noise. Pages of the ring become resident as data first
	// reaches them: a connection that never carried 1 MiB uses less.
	DefaultBufferSize = 1 << 20
	// MaxBufferSize bounds WithBufferSize: larger rings only cost memory
	// (two of them per connection) and move no faster.
	MaxBufferSize = 1 << 30
)

// Option configures Pipe, Listen and Dial.
type Option func(*config)

type config struct {
	bufSize int
	spin    *time.Duration // nil: the default policy (see replySpin)
	uids    []int
	anyUID  bool
}

// WithBufferSize sets the size in bytes of the ring in each direction,
// rounded up to a power of two. Sizes outside 1..MaxBufferSize make the
// constructor fail.
func WithBufferSize(bytes int) Option {
	return func(c *config) { c.bufSize = bytes }
}

// WithSpin makes every blocked Read and Write poll its ring for d before
// it sleeps on its wakeup fd (see fdring.WithSpin; 0 sleeps at once). It
// replaces the default policy, which spins only where a reply is expected
// (a Read after this Conn wrote, for DefaultReplySpin) and otherwise
// sleeps at once. A spin answers a busy peer in
// well under a microsecond instead of a wakeup's tens, at the cost of a
// CPU while it spins, which on a machine with few CPUs the peer may need.
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

// replySpin is the Conn's reply spin (see Conn.replySpin): DefaultReplySpin
// unless WithSpin chose a spin for every wait, which the rings then do.
func (c *config) replySpin() time.Duration {
	if c.spin != nil {
		return 0
	}
	return DefaultReplySpin
}

// ringOptions are the fdring options of one direction's channel (and of a
// duplex dial: the spin and which listeners to talk to). Without WithSpin
// the rings never spin: the Conn spins itself, only where it expects a
// reply (see Conn.replySpin).
func (c *config) ringOptions() []fdring.Option {
	spin := time.Duration(0)
	if c.spin != nil {
		spin = *c.spin
	}
	opts := []fdring.Option{fdring.WithSpin(spin)}
	if len(c.uids) > 0 {
		opts = append(opts, fdring.WithPeerUIDs(c.uids...))
	}
	if c.anyUID {
		opts = append(opts, fdring.WithAnyPeerUID())
	}
	return opts
}
