//go:build !amd64 || race

package ring

import "sync/atomic"

// storeRelease publishes an index with a sequentially consistent store: on
// arm64 STLR (a release store that no later LDAR overtakes), elsewhere what
// sync/atomic provides, and under the race detector, which must see the
// happens-before edge. No fence is then needed (see ring.go).
func storeRelease(p *atomic.Uint64, v uint64, _ bool) { p.Store(v) }

// canPublishPlain: this build never publishes with plain stores.
const canPublishPlain = false

// storePlain: never reached in this build (haltSlow is always set, so
// TryPut and TryGet leave every publish to Put and Get), and atomic all
// the same.
func storePlain(p *atomic.Uint64, v uint64) { p.Store(v) }
