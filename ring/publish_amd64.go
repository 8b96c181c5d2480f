//go:build amd64 && !race

package ring

import (
	"sync/atomic"
	"unsafe"
)

// storeRelease publishes an index. With plain (the side's setting: this
// process registered membarrier, see PlainStores, and the ring is not
// shared with another process, see SetShared) it is a plain MOV: on x86 (TSO) a store is
// never reordered with earlier stores, so the elements written before it
// are visible no later than the index; and Go's compiler keeps stores in
// program order (they are chained through memory in SSA) and does not
// merge or drop a store through a pointer it cannot see the end of. The
// only reordering left, a later load overtaking this store in the store
// buffer, is what the sleeping side's membarrier covers (see ring.go).
// Without membarrier, atomic.Store (XCHG) keeps the original protocol.
//
// It must stay small enough to be inlined: a call would add stores (a
// return address, spills) to every publish.
func storeRelease(p *atomic.Uint64, v uint64, plain bool) {
	if plain {
		*(*uint64)(unsafe.Pointer(p)) = v
		return
	}
	p.Store(v)
}

// canPublishPlain: this build may publish with plain stores (if membarrier
// is available).
const canPublishPlain = true

// storePlain is storeRelease for a side known to publish with plain stores
// (TryPut and TryGet run only then: haltSlow is clear).
func storePlain(p *atomic.Uint64, v uint64) { *(*uint64)(unsafe.Pointer(p)) = v }
