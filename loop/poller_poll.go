//go:build unix

package loop

import "golang.org/x/sys/unix"

// pollPoller is the poll(2) backend, built on every Unix (Linux included, so
// the same test suite runs on it; WithPoll selects it there). It keeps the
// pollfd array the kernel reads plus a parallel array of Tokens and an
// fd -> position index for ctl. del swaps the last entry into the hole.
//
// When more registrations are ready than out can hold, the scan resumes
// where it stopped on the next wait, so a long array cannot starve its tail.
type pollPoller struct {
	fds   []unix.PollFd
	toks  []Token
	index map[int]int
	next  int // where the next scan of ready entries starts
}

func newPollPoller(maxEvents int) *pollPoller {
	return &pollPoller{index: make(map[int]int)}
}

func pollMask(in Interest) int16 {
	var m int16
	if in.IsReadable() {
		m |= unix.POLLIN | pollRDHUP
	}
	if in.IsWritable() {
		m |= unix.POLLOUT
	}
	return m
}

func (p *pollPoller) add(fd int, tok Token, in Interest) error {
	if _, ok := p.index[fd]; ok {
		return unix.EEXIST
	}
	if fd < 0 {
		return unix.EBADF
	}
	p.index[fd] = len(p.fds)
	p.fds = append(p.fds, unix.PollFd{Fd: int32(fd), Events: pollMask(in)})
	p.toks = append(p.toks, tok)
	return nil
}

func (p *pollPoller) mod(fd int, tok Token, in Interest) error {
	i, ok := p.index[fd]
	if !ok {
		return unix.ENOENT
	}
	p.fds[i].Events = pollMask(in)
	p.toks[i] = tok
	return nil
}

func (p *pollPoller) del(fd int) error {
	i, ok := p.index[fd]
	if !ok {
		return unix.ENOENT
	}
	last := len(p.fds) - 1
	if i != last {
		p.fds[i] = p.fds[last]
		p.toks[i] = p.toks[last]
		p.index[int(p.fds[i].Fd)] = i
	}
	p.fds = p.fds[:last]
	p.toks = p.toks[:last]
	delete(p.index, fd)
	return nil
}

func (p *pollPoller) wait(out []pollEvent, msec int) (int, error) {
	ready, err := unix.Poll(p.fds, msec)
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil || ready == 0 {
		return 0, err
	}
	n, total := 0, len(p.fds)
	if p.next >= total {
		p.next = 0
	}
	for k := 0; k < total && n < len(out) && n < ready; k++ {
		i := (p.next + k) % total
		r := p.fds[i].Revents
		if r == 0 {
			continue
		}
		var ev Event
		if r&unix.POLLIN != 0 {
			ev |= EventReadable
		}
		if r&unix.POLLOUT != 0 {
			ev |= EventWritable
		}
		if r&(unix.POLLHUP|pollRDHUP) != 0 {
			ev |= EventHangup
		}
		if r&(unix.POLLERR|unix.POLLNVAL) != 0 {
			ev |= EventError
		}
		out[n] = pollEvent{tok: p.toks[i], ev: ev}
		n++
		if n == len(out) {
			p.next = i + 1
		}
	}
	return n, nil
}

// edge: poll(2) is level-triggered only.
func (p *pollPoller) edge() bool { return false }

func (p *pollPoller) close() error {
	p.fds, p.toks, p.index = nil, nil, nil
	return nil
}
