package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// The server process is this test binary re-executed.
func TestMain(m *testing.M) {
	if spec := os.Getenv(serverEnv); spec != "" {
		os.Exit(serve(spec))
	}
	os.Exit(m.Run())
}

// TestRun runs the example over fdnet and over a unix socket and checks
// that it did every step.
func TestRun(t *testing.T) {
	for _, name := range []string{"fdnet", "unixsocket"} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run([]string{"-transport", name, "-calls", "200", "-stream", "16", "-timeout", "1m"}, &out); code != 0 {
				t.Fatalf("exit %d, output:\n%s", code, out.String())
			}
			for _, want := range []string{"gRPC over " + name, "unary:", "16 x 1 MiB", "server counted", "100 messages echoed"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-calls", "0"}, {"-stream", "-1"}, {"-nope"}} {
		if code := run(args, &bytes.Buffer{}); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code := run([]string{"-transport", "carrier-pigeon"}, &bytes.Buffer{}); code != 1 {
		t.Errorf("unknown transport: exit %d, want 1", code)
	}
}
