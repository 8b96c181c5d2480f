//go:build !linux

package shm_test

import (
	"errors"
	"testing"

	"github.com/fdring/fdring/shm"
)

func TestUnsupported(t *testing.T) {
	if _, err := shm.Create("x", 4096); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Create = %v, want ErrUnsupported", err)
	}
	if _, err := shm.Map(0, 4096); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Map = %v, want ErrUnsupported", err)
	}
}
