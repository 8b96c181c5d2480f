//go:build !linux

package notify

import (
	"errors"
	"fmt"
)

// NewEventfd reports errors.ErrUnsupported: eventfd is Linux-only. New
// falls back to a pipe.
func NewEventfd() (Notifier, error) {
	return nil, fmt.Errorf("notify: eventfd: %w", errors.ErrUnsupported)
}
