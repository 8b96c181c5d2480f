package fdring

// SetGatherHook makes s call f as a SendWait of s starts to gather room
// (see Sender.gather): for tests in package fdring_test. Set it before the
// SendWait starts.
func SetGatherHook[T any](s *Sender[T], f func()) { s.gatherHook = f }
