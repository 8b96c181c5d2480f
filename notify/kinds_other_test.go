//go:build !linux

package notify

import (
	"errors"
	"testing"
)

// newIsPipe reports whether New makes a pipe: it does off Linux.
const newIsPipe = true

func platformKinds() []kind { return nil }

func TestNewEventfdUnsupported(t *testing.T) {
	if _, err := NewEventfd(); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("NewEventfd: %v, want errors.ErrUnsupported", err)
	}
}
