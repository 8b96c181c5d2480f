package notify

import "golang.org/x/sys/unix"

// pipeFds makes a pipe whose ends are close-on-exec from birth.
func pipeFds() ([2]int, error) {
	var p [2]int
	err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK)
	return p, err
}
