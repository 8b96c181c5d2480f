package fdring_test

import (
	"os/exec"
	"regexp"
	"runtime"
	"testing"
)

// TestFastPathInlines guards the per-item speed: ring.Sender.TryPut and
// ring.Receiver.TryGet must stay within Go's inlining budget and be inlined
// into Put, TryPut, Get and TryGet (a call there would add a return address
// and spills to every element's stores; see DESIGN.md). It asks the
// compiler, so it needs the go command; a change that makes either too
// costly fails here rather than in a benchmark nobody reads.
func TestFastPathInlines(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the package")
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(gocmd, "build", "-gcflags=-m", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	for _, want := range []struct{ file, call string }{
		{"sender.go", `ring\.\(\*Sender\[[^\]]+\]\)\.TryPut`},
		{"receiver.go", `ring\.\(\*Receiver\[[^\]]+\]\)\.TryGet`},
	} {
		re := regexp.MustCompile(`(?m)^\./` + regexp.QuoteMeta(want.file) + `:\d+:\d+: inlining call to ` + want.call + `$`)
		if n := len(re.FindAll(out, -1)); n < 2 {
			t.Errorf("%s: %d calls to %s inlined, want 2 (Put and TryPut, or Get and TryGet) on %s",
				want.file, n, want.call, runtime.Version())
		}
	}
}
