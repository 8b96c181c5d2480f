//go:build linux

package loop

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// epoller is the epoll backend, level-triggered. The Token travels in the
// event's data word: slot index in Fd, generation in Pad (the two int32
// fields every linux/GOARCH EpollEvent has), so no lookup table is needed.
type epoller struct {
	fd  int
	raw []unix.EpollEvent
}

func newDefaultPoller(maxEvents int) (poller, error) { return newEpoller(maxEvents) }

func newEpoller(maxEvents int) (*epoller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("loop: epoll_create1: %w", err)
	}
	return &epoller{fd: fd, raw: make([]unix.EpollEvent, maxEvents)}, nil
}

// epollMask is the epoll event mask for in. Readable interest also asks
// for EPOLLRDHUP, so a peer's half-close (its FIN, shutdown(SHUT_WR)) is
// reported as EventHangup next to EventReadable, as poll(2) does with
// POLLRDHUP; EPOLLHUP and EPOLLERR are always reported.
func epollMask(in Interest) uint32 {
	var m uint32
	if in.IsReadable() {
		m |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if in.IsWritable() {
		m |= unix.EPOLLOUT
	}
	if in&edgeTriggered != 0 {
		m |= unix.EPOLLET
	}
	return m
}

func (p *epoller) edge() bool { return true }

func (p *epoller) ctl(op, fd int, tok Token, in Interest) error {
	ev := unix.EpollEvent{Events: epollMask(in), Fd: int32(tok.slot), Pad: int32(tok.gen)}
	return unix.EpollCtl(p.fd, op, fd, &ev)
}

func (p *epoller) add(fd int, tok Token, in Interest) error {
	return p.ctl(unix.EPOLL_CTL_ADD, fd, tok, in)
}

func (p *epoller) mod(fd int, tok Token, in Interest) error {
	return p.ctl(unix.EPOLL_CTL_MOD, fd, tok, in)
}

func (p *epoller) del(fd int) error {
	return unix.EpollCtl(p.fd, unix.EPOLL_CTL_DEL, fd, nil)
}

func (p *epoller) wait(out []pollEvent, msec int) (int, error) {
	raw := p.raw
	if len(out) < len(raw) {
		raw = raw[:len(out)]
	}
	n, err := unix.EpollWait(p.fd, raw, msec)
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	for i := range raw[:n] {
		e := &raw[i]
		var ev Event
		if e.Events&unix.EPOLLIN != 0 {
			ev |= EventReadable
		}
		if e.Events&unix.EPOLLOUT != 0 {
			ev |= EventWritable
		}
		if e.Events&(unix.EPOLLHUP|unix.EPOLLRDHUP) != 0 {
			ev |= EventHangup
		}
		if e.Events&unix.EPOLLERR != 0 {
			ev |= EventError
		}
		out[i] = pollEvent{tok: Token{slot: uint32(e.Fd), gen: uint32(e.Pad)}, ev: ev}
	}
	return n, nil
}

func (p *epoller) close() error { return unix.Close(p.fd) }
