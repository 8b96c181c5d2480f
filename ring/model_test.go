package ring_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestWakeupModel runs the spin model checker on ring/model/wakeup.pml: the
// protocol as implemented must have no invalid end state (no lost wakeup)
// and no assertion failure (no element lost or read twice), and the
// deliberately broken variant (no re-check after declaring sleep) must be
// rejected, which shows the check can fail. Skipped when spin or a C
// compiler is not installed (CI installs spin).
func TestWakeupModel(t *testing.T) {
	if testing.Short() {
		t.Skip("model checking is not short")
	}
	spin, err := exec.LookPath("spin")
	if err != nil {
		t.Skip("spin is not installed (apt-get install spin)")
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler for spin's verifier")
	}
	model, err := filepath.Abs("model/wakeup.pml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		defines []string
		wantErr bool
	}{
		{"implemented", nil, false},
		{"broken-no-recheck", []string{"-DBROKEN"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			run := func(name string, args ...string) string {
				t.Helper()
				cmd := exec.Command(name, args...)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				if err != nil && name != "./pan" {
					t.Fatalf("%s %v: %v\n%s", name, args, err, out)
				}
				return string(out)
			}
			run(spin, append(append([]string{"-a"}, c.defines...), model)...)
			run(cc, "-O2", "-o", "pan", "pan.c")
			out := run("./pan", "-m1000000")
			m := regexp.MustCompile(`errors: (\d+)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no verdict in spin's output:\n%s", out)
			}
			if strings.Contains(out, "max search depth too small") {
				t.Fatalf("search truncated:\n%s", out)
			}
			failed := m[1] != "0"
			if failed != c.wantErr {
				t.Fatalf("errors: %s, want failure=%v\n%s", m[1], c.wantErr, out)
			}
			if c.wantErr && !strings.Contains(out, "invalid end state") {
				t.Fatalf("the broken model failed for another reason:\n%s", out)
			}
			if _, err := os.Stat(filepath.Join(dir, "pan")); err != nil {
				t.Fatal(err)
			}
			t.Logf("spin verdict: errors %s (%s)", m[1], regexp.MustCompile(`\d+ states, stored`).FindString(out))
		})
	}
}
