package notify

import (
	"fmt"

	"github.com/fdring/fdring/internal/sys"
)

// NewPipe returns a notifier backed by a pipe: Fd is the read end, Signal
// writes one byte to the write end, Clear drains the read end. Both ends are
// non-blocking and close-on-exec. Works on every Unix.
func NewPipe() (Notifier, error) {
	p, err := sys.Pipe()
	if err != nil {
		return nil, fmt.Errorf("notify: pipe: %w", err)
	}
	return &fdNotifier{rfd: p[0], wfd: p[1], rkind: kindPipe, wkind: kindPipe}, nil
}
