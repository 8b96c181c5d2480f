//go:build unix

package shm

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/fdring/fdring/internal/sys"
	"golang.org/x/sys/unix"
)

// SendFds sends payload with fds attached (SCM_RIGHTS) in one sendmsg on
// conn. payload must not be empty (a stream socket carries fds only together
// with data) and at most MaxFds fds may go in one message. The kernel
// duplicates the fds into the message: the caller keeps its own and may close
// them as soon as SendFds returns. The fds arrive at the peer with the first
// byte of payload. conn's write deadline applies.
//
// On a stream socket a short write is completed with plain writes, so on
// success all of payload was sent.
func SendFds(conn *net.UnixConn, payload []byte, fds ...int) error {
	if len(payload) == 0 {
		return errors.New("shm: sendmsg: empty payload: fds need at least one byte to travel with")
	}
	if len(fds) > MaxFds {
		return fmt.Errorf("shm: sendmsg: %d fds, at most %d: %w", len(fds), MaxFds, ErrTooManyFds)
	}
	for _, fd := range fds {
		if fd < 0 {
			return fmt.Errorf("shm: sendmsg: fd %d: %w", fd, unix.EBADF)
		}
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	n, _, err := conn.WriteMsgUnix(payload, oob, nil)
	if err != nil {
		return fmt.Errorf("shm: sendmsg: %w", err)
	}
	if n < len(payload) {
		if _, err := conn.Write(payload[n:]); err != nil {
			return fmt.Errorf("shm: write: %w", err)
		}
	}
	return nil
}

// RecvFds receives one message into payload together with up to maxFds fds
// (0 <= maxFds <= MaxFds) that came with it. It returns the number of payload
// bytes and the fds, which the caller owns; they are close-on-exec. payload
// must not be empty.
//
// It reads like conn.Read: on a stream socket it returns what has arrived, at
// most len(payload) bytes, and never reads past a message that carries fds
// into the next one; the caller reads any rest of its own framing with Read.
// On a datagram or seqpacket socket it returns one whole message.
// conn's read deadline applies. At end of stream it returns io.EOF.
//
// Every error path closes every fd that arrived:
//   - more fds than maxFds, including fds the kernel dropped because the
//     control buffer was full (MSG_CTRUNC): ErrTooManyFds;
//   - a datagram or seqpacket message longer than payload (MSG_TRUNC):
//     ErrTruncated;
//   - a malformed control message.
//
// Close-on-exec is set atomically with MSG_CMSG_CLOEXEC where the system has
// it (Linux and the BSDs). Elsewhere (macOS) RecvFds sets it right after
// recvmsg while holding syscall.ForkLock for reading, so no fork through
// os/exec or syscall.ForkExec can see the fds without it; a fork by other
// means in that window could.
func RecvFds(conn *net.UnixConn, payload []byte, maxFds int) (n int, fds []int, err error) {
	if len(payload) == 0 {
		return 0, nil, errors.New("shm: recvmsg: empty payload: fds need at least one byte to travel with")
	}
	if maxFds < 0 || maxFds > MaxFds {
		return 0, nil, fmt.Errorf("shm: recvmsg: maxFds %d not in [0, %d]", maxFds, MaxFds)
	}
	var oob []byte
	if maxFds > 0 {
		oob = make([]byte, unix.CmsgSpace(maxFds*4))
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, nil, fmt.Errorf("shm: recvmsg: %w", err)
	}
	var (
		flags             int
		recvErr, parseErr error
	)
	err = rc.Read(func(fd uintptr) bool {
		if !atomicCloexec {
			syscall.ForkLock.RLock()
			defer syscall.ForkLock.RUnlock()
		}
		var oobn int
		recvErr = sys.IgnoringEINTR(func() error {
			var err error
			n, oobn, flags, _, err = unix.Recvmsg(int(fd), payload, oob, recvmsgFlags)
			return err
		})
		if errors.Is(recvErr, unix.EAGAIN) {
			return false // wait for readiness (or the deadline) and retry
		}
		if recvErr != nil {
			return true
		}
		fds, parseErr = parseRights(oob[:oobn])
		if !atomicCloexec {
			for _, fd := range fds {
				unix.CloseOnExec(fd)
			}
		}
		return true
	})
	if err == nil {
		err = recvErr
	}
	if err != nil {
		// No message was received: neither payload nor fds.
		return 0, nil, fmt.Errorf("shm: recvmsg: %w", err)
	}
	switch {
	case parseErr != nil:
		err = fmt.Errorf("shm: recvmsg: control message: %w", parseErr)
	case flags&unix.MSG_CTRUNC != 0:
		err = fmt.Errorf("shm: recvmsg: control message truncated, more than %d fds: %w", maxFds, ErrTooManyFds)
	case len(fds) > maxFds:
		err = fmt.Errorf("shm: recvmsg: %d fds, at most %d: %w", len(fds), maxFds, ErrTooManyFds)
	case flags&unix.MSG_TRUNC != 0:
		err = fmt.Errorf("shm: recvmsg: message longer than %d bytes: %w", len(payload), ErrTruncated)
	case n == 0 && len(fds) == 0:
		err = io.EOF
	}
	if err != nil {
		closeAll(fds)
		return 0, nil, err
	}
	return n, fds, nil
}

// parseRights collects the fds of every SCM_RIGHTS message in oob and skips
// other control messages. On a malformed message it returns the fds found
// before it together with the error, so the caller can close them.
func parseRights(oob []byte) ([]int, error) {
	var fds []int
	for len(oob) >= unix.CmsgLen(0) {
		hdr, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return fds, err
		}
		if hdr.Level == unix.SOL_SOCKET && hdr.Type == unix.SCM_RIGHTS {
			got, err := unix.ParseUnixRights(&unix.SocketControlMessage{Header: hdr, Data: data})
			if err != nil {
				return fds, err
			}
			fds = append(fds, got...)
		}
		oob = rest
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
