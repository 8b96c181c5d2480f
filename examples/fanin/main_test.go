package main

import (
	"os"
	"testing"
)

// The -procs mode re-executes this binary as a producer: under go test that
// is the test binary, so TestMain plays the child's part.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

func TestFaninGoroutines(t *testing.T) {
	if err := run(8, 20_000, false, 0, 256); err != nil {
		t.Fatal(err)
	}
}

func TestFaninSpin(t *testing.T) {
	if err := run(3, 20_000, false, 20_000, 64); err != nil {
		t.Fatal(err)
	}
}

func TestFaninProcesses(t *testing.T) {
	if err := run(3, 50_000, true, 0, 1024); err != nil {
		t.Fatal(err)
	}
}
