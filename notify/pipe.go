package notify

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// NewPipe returns a notifier backed by a pipe: Fd is the read end, Signal
// writes one byte to the write end, Clear drains the read end. Both ends are
// non-blocking and close-on-exec. Works on every Unix.
func NewPipe() (Notifier, error) {
	p, err := pipeFds()
	if err != nil {
		return nil, fmt.Errorf("notify: pipe: %w", err)
	}
	for _, fd := range p {
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return nil, fmt.Errorf("notify: pipe: set non-blocking: %w", err)
		}
	}
	return &fdNotifier{rfd: p[0], wfd: p[1], rkind: kindPipe, wkind: kindPipe}, nil
}
