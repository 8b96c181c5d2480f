package loop

import "time"

// Option configures New and NewGroup.
type Option func(*config)

type config struct {
	spin        time.Duration
	poll        bool
	maxEvents   int
	readBuf     int
	highWater   int
	lowWater    int
	acceptBatch int
	balance     Balance
}

func defaultConfig() config {
	return config{
		maxEvents:   256,
		readBuf:     64 << 10,
		highWater:   4 << 20,
		lowWater:    1 << 20,
		acceptBatch: 64,
		balance:     RoundRobin,
	}
}

// WithSpin makes the loop poll the Ready method of its watched ring sources
// for up to d before it arms them and blocks. Work the spin catches costs
// well under a microsecond to pick up; work that needs a wakeup costs tens. Zero
// (the default) disables spinning.
func WithSpin(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.spin = d
		}
	}
}

// WithPoll selects the poll(2) backend even where epoll is available.
func WithPoll() Option { return func(c *config) { c.poll = true } }

// WithMaxEvents bounds how many readiness events one poll returns (default 256).
func WithMaxEvents(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxEvents = n
		}
	}
}

// WithReadBufferSize sets the size of the loop-wide buffer connections read
// into (default 64 KiB). OnData never sees more than this at once.
func WithReadBufferSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.readBuf = n
		}
	}
}

// WithWaterMarks sets the per-connection output limits: when a Conn's unsent
// output reaches high, the loop stops reading from it until the output drains
// to low or below (defaults 1 MiB and 4 MiB). low is clamped to [0, high].
func WithWaterMarks(low, high int) Option {
	return func(c *config) {
		if high <= 0 {
			return
		}
		c.highWater = high
		c.lowWater = min(max(low, 0), high)
	}
}

// WithAcceptBatch bounds how many connections a listener accepts per
// readiness event (default 64), so a connection storm cannot starve the
// loop's other work.
func WithAcceptBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.acceptBatch = n
		}
	}
}

// WithBalance chooses how a Group hands accepted connections to its loops
// (default RoundRobin). A single Loop ignores it.
func WithBalance(b Balance) Option { return func(c *config) { c.balance = b } }
