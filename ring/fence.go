package ring

import "sync"

// fenceKind is what a side about to sleep does, between declaring and
// re-checking, so that its peer's index stores are visible to the re-check.
type fenceKind uint8

const (
	// fenceNone: the peer publishes with sequentially consistent stores;
	// nothing to do.
	fenceNone fenceKind = iota
	// fencePrivate: the peer is a thread of this process that publishes
	// with plain stores: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED).
	fencePrivate
	// fenceGlobal: the peer is another process that publishes with plain
	// stores and registered for it: membarrier(GLOBAL_EXPEDITED).
	fenceGlobal
)

// localFence is the fence for a peer in this process.
func localFence() fenceKind {
	if PlainStores() {
		return fencePrivate
	}
	return fenceNone
}

// wait makes the fence. It reports false if it could not (the kernel
// refused): the caller must then not sleep, since a peer's store may still
// be invisible to its re-check.
func (f fenceKind) wait() bool {
	switch f {
	case fencePrivate:
		return membarrier(membarrierPrivateExpedited) == nil
	case fenceGlobal:
		return membarrier(membarrierGlobalExpedited) == nil
	}
	return true
}

var (
	fenceOnce sync.Once
	// plainStores is decided once, before the first ring exists (Init and
	// Open ask PlainStores), and never changes: each side copies it.
	plainStores bool
)

// PlainStores reports whether this process publishes ring indices with
// plain stores (amd64, not under the race detector, with membarrier(2)
// registered for both expedited commands), which a peer in another process
// must know to fence before it sleeps (see Ring.SetRemotePeer). It is
// decided on the first call and never changes.
func PlainStores() bool {
	fenceOnce.Do(func() { plainStores = canPublishPlain && registerMembarrier() })
	return plainStores
}

var (
	remoteOnce sync.Once
	remoteOK   bool
)

// CanFenceRemote reports whether this process can make the fence a peer in
// another process that publishes with plain stores needs
// (membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)). Decided on the first call.
func CanFenceRemote() bool {
	remoteOnce.Do(func() { remoteOK = membarrier(membarrierGlobalExpedited) == nil })
	return remoteOK
}
