package notify

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// NewEventfd returns a notifier backed by one eventfd (non-blocking,
// close-on-exec). Signal adds 1 to its counter; Clear reads and resets it.
func NewEventfd() (Notifier, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("notify: eventfd: %w", err)
	}
	return &fdNotifier{rfd: fd, wfd: fd, rkind: kindEventfd, wkind: kindEventfd}, nil
}
