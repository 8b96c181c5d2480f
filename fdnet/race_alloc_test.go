//go:build race

package fdnet_test

// raceEnabled: the race detector instruments the syscall buffers, which
// then escape to the heap, so allocation counts do not hold.
const raceEnabled = true
