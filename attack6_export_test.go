package fdring

import "time"

// SetGatherHook makes s call f as a SendWait of s starts to gather room
// (see Sender.gather): for tests in package fdring_test. Set it before the
// SendWait starts.
func SetGatherHook[T any](s *Sender[T], f func()) { s.gatherHook = f }

// SetGatherIdle sets how long a gather of s waits for a receiver that
// frees nothing (see gatherIdle), so that a test may act while it gathers.
func SetGatherIdle[T any](s *Sender[T], d time.Duration) { s.idle = d }
