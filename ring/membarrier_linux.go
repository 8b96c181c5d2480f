package ring

import (
	"golang.org/x/sys/unix"
)

// membarrier(2) commands (linux/membarrier.h).
const (
	membarrierQuery                    = 0
	membarrierGlobalExpedited          = 1 << 1
	membarrierRegisterGlobalExpedited  = 1 << 2
	membarrierPrivateExpedited         = 1 << 3
	membarrierRegisterPrivateExpedited = 1 << 4
	membarrierNeeded                   = membarrierGlobalExpedited | membarrierRegisterGlobalExpedited | membarrierPrivateExpedited | membarrierRegisterPrivateExpedited
)

func membarrier(cmd int) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_MEMBARRIER, uintptr(cmd), 0, 0)
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

// registerMembarrier registers this process for both expedited commands:
// PRIVATE_EXPEDITED (a sleeper fencing a peer thread of this process) and
// GLOBAL_EXPEDITED (a sleeper in another process fencing us). It reports
// whether both are available.
func registerMembarrier() bool {
	r, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierQuery, 0, 0)
	if e != 0 || r&membarrierNeeded != membarrierNeeded {
		return false
	}
	return membarrier(membarrierRegisterPrivateExpedited) == nil &&
		membarrier(membarrierRegisterGlobalExpedited) == nil
}
