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

// ringOptions are the fdring options of one direction's channel.
func (c *config) ringOptions() []fdring.Option {
	if c.spin == nil {
		return nil
	}
	return []fdring.Option{fdring.WithSpin(*c.spin)}
}
