package fdring

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Across processes, a channel's one connection (SOCK_SEQPACKET, made by the
// producer's connect and the consumer's accept: each end is a file
// description only its own process ever held) carries the wakeups of both
// directions; each side waits on its end and signals on it. Its end of
// file tells a sleeping side, or an event loop, that the peer is gone.
//
// watchPeer tells a side that never sleeps (a producer whose ring never
// fills, a consumer that polls): a goroutine, parked in the runtime poller
// (no OS thread is held), waits on a private epoll instance that holds two
// things the peer can neither saturate nor disarm: a pidfd of the peer's
// process (SO_PEERPIDFD, taken from the connection: no pid reuse race),
// readable once that process exits whatever it did with its fds before
// (passed them on in flight, duplicated them, left them to a child), and
// the connection's hang-up (EPOLLRDHUP only: the wakeup messages on it do
// not wake the watcher, and it reads nothing, so it takes nothing from the
// side). Either marks the channel gone: ErrPeerGone, unless the peer had
// closed its side of the ring first.
//
// shutdown (run by channel.close) stops the goroutine and waits for it.
func (c *channel[T]) watchPeer(pidfd, connFd int) (err error) {
	// The epoll instance watches files, not fd numbers, but drops a file
	// once its last fd is closed: pidfd stays open until shutdown.
	defer func() {
		if err != nil && pidfd >= 0 {
			unix.Close(pidfd)
		}
	}()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	if pidfd >= 0 {
		ev := unix.EpollEvent{Events: unix.EPOLLIN}
		err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, pidfd, &ev)
	}
	if err == nil {
		ev := unix.EpollEvent{Events: unix.EPOLLRDHUP}
		err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, connFd, &ev)
	}
	if err == nil {
		err = unix.SetNonblock(ep, true) // before os.NewFile: pollable
	}
	if err != nil {
		unix.Close(ep)
		return fmt.Errorf("epoll: %w", err)
	}
	f := os.NewFile(uintptr(ep), "fdring-peer") // owns ep from here on
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return fmt.Errorf("epoll: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var evs [2]unix.EpollEvent
		err := rc.Read(func(fd uintptr) bool {
			n, err := unix.EpollWait(int(fd), evs[:], 0)
			return err == nil && n > 0
		})
		if err == nil {
			c.markGone()
		}
	}()
	c.shutdown = func() {
		f.SetReadDeadline(time.Unix(1, 0))
		<-done
		f.Close()
		if pidfd >= 0 {
			unix.Close(pidfd)
		}
	}
	return nil
}

// peerPidfd returns a pidfd for the process at the other end of conn's fd,
// or -1 when that process is this one. SO_PEERPIDFD names the process that
// connected (or listened), so a pid reused since cannot be mistaken for it;
// on kernels without it (before 6.5) pidfd_open of SO_PEERCRED's pid is
// used, checked against the connection still being open.
func peerPidfd(fd int) (int, error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return -1, fmt.Errorf("peer credentials: %w", err)
	}
	if int(cred.Pid) == os.Getpid() {
		return -1, nil
	}
	pfd, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEERPIDFD)
	if err == nil {
		unix.CloseOnExec(pfd)
		return pfd, nil
	}
	pfd, err = unix.PidfdOpen(int(cred.Pid), 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_open: %w", err)
	}
	unix.CloseOnExec(pfd)
	// The pid could have been reused if the peer died before pidfd_open;
	// then its end of the connection is closed: end of file.
	var b [1]byte
	if n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT); err == nil && n == 0 {
		unix.Close(pfd)
		return -1, fmt.Errorf("%w: the peer exited during the handshake", ErrHandshake)
	}
	return pfd, nil
}

// sealConn stops the connection from carrying fds from now on
// (SO_PASSRIGHTS, Linux 6.16): a peer cannot park fds (its own socket
// among them) in our receive queue. Older kernels lack it; the pidfd makes
// death visible anyway.
func sealConn(fd int) {
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSRIGHTS, 0)
}
