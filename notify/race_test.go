//go:build race

package notify

// raceEnabled: the race detector instruments the syscall buffers, which
// then escape to the heap, so allocation counts do not hold.
const raceEnabled = true
