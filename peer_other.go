//go:build !linux

package fdring

// Cross-process channels need Linux; these keep the package building
// elsewhere (Dial and Accept fail before they get here).

func (c *channel[T]) watchPeer(int, int) error { return nil }

func peerPidfd(int) (int, error) { return -1, nil }

func sealConn(int) {}
