//go:build linux

package loop

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// wakeFD is an eventfd: signal adds 1 to its counter (any goroutine), drain
// reads the counter back to 0 (loop goroutine). A full counter (EAGAIN) means
// "already signalled", which is all a wakeup needs.
type wakeFD struct {
	efd int
}

func newWakeFD() (*wakeFD, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("loop: eventfd: %w", err)
	}
	return &wakeFD{efd: fd}, nil
}

func (w *wakeFD) fd() int { return w.efd }

func (w *wakeFD) signal() error {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], 1)
	_, err := eintr(func() (int, error) { return unix.Write(w.efd, b[:]) })
	if err == unix.EAGAIN {
		return nil
	}
	return err
}

func (w *wakeFD) drain() error {
	var b [8]byte
	_, err := eintr(func() (int, error) { return unix.Read(w.efd, b[:]) })
	if err == unix.EAGAIN {
		return nil
	}
	return err
}

func (w *wakeFD) close() error { return unix.Close(w.efd) }
