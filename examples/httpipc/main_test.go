package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRun runs the example's whole script in this process: the server on
// fdnet.Listen, the client through fdnet.Dial, every body checked.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 8<<20, 4); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"GET /hello: 200",
		"GET /blob?n=8388608: 200, 0 bytes sent, 8388608 received and checked",
		"POST /echo: 200, 8388608 bytes sent, 8388608 received and checked",
		"done: 7 requests, 25165949 body bytes",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

// TestRunRejectsBadFlags: bad flag values are an error, not a hang.
func TestRunRejectsBadFlags(t *testing.T) {
	if err := run(new(bytes.Buffer), -1, 1); err == nil {
		t.Fatal("run accepted a negative size")
	}
}
