//go:build unix && !linux

package loop

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// wakeFD is a non-blocking pipe: signal writes one byte (any goroutine), drain
// reads until empty (loop goroutine). A full pipe (EAGAIN) means "already
// signalled", which is all a wakeup needs.
type wakeFD struct {
	r, w int
}

func newWakeFD() (*wakeFD, error) {
	var p [2]int
	syscall.ForkLock.RLock()
	err := unix.Pipe(p[:])
	if err == nil {
		unix.CloseOnExec(p[0])
		unix.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("loop: pipe: %w", err)
	}
	for _, fd := range p {
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return nil, fmt.Errorf("loop: pipe: %w", err)
		}
	}
	return &wakeFD{r: p[0], w: p[1]}, nil
}

func (w *wakeFD) fd() int { return w.r }

func (w *wakeFD) signal() error {
	b := [1]byte{1}
	_, err := eintr(func() (int, error) { return unix.Write(w.w, b[:]) })
	if err == unix.EAGAIN {
		return nil
	}
	return err
}

func (w *wakeFD) drain() error {
	var b [64]byte
	for {
		n, err := eintr(func() (int, error) { return unix.Read(w.r, b[:]) })
		if err == unix.EAGAIN {
			return nil
		}
		if err != nil {
			return err
		}
		if n < len(b) {
			return nil
		}
	}
}

func (w *wakeFD) close() error {
	err1 := unix.Close(w.r)
	err2 := unix.Close(w.w)
	if err1 != nil {
		return err1
	}
	return err2
}
