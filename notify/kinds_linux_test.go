package notify

import (
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// newIsPipe reports whether New makes a pipe: on Linux it makes an eventfd.
const newIsPipe = false

// platformKinds are the Linux-only kinds: eventfds, and seqpacket sockets
// (which macOS lacks).
func platformKinds() []kind {
	return []kind{
		{name: "eventfd", make: NewEventfd, ours: true},
		{name: "FromFds/eventfd", make: fromEventfd},
		{name: "FromFds/socketpair-seqpacket", make: fromSocketpair(unix.SOCK_SEQPACKET), hangupWakes: true},
	}
}

// fromEventfd wraps a blocking, inheritable eventfd, as a caller might bring
// one received from another process.
func fromEventfd() (Notifier, error) {
	fd, err := unix.Eventfd(0, 0)
	if err != nil {
		return nil, err
	}
	n, err := FromFds(fd, fd)
	if err != nil {
		unix.Close(fd)
	}
	return n, err
}

func TestNewIsEventfd(t *testing.T) {
	n, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(n.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if link != "anon_inode:[eventfd]" {
		t.Errorf("New made %q, want an eventfd", link)
	}
}
