//go:build !race

package fdnet_test

// raceEnabled: allocation counts hold only without the race detector.
const raceEnabled = false
