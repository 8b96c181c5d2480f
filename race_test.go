//go:build race

package fdring_test

const raceEnabled = true
