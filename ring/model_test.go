package ring_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestWakeupModel runs the spin model checker on ring/model/wakeup.pml, the
// wakeup protocol on x86-TSO memory (store buffers on both sides, locked
// instructions as full fences, membarrier(2) as a drain of the peer's store
// buffer). The protocol and its fallback must have no error: no lost wakeup,
// no element lost, repeated or out of order, no invalid end state. Each
// variant that leaves out one ingredient must fail with a lost wakeup, which
// shows both that the ingredient is needed and that the check can fail. The
// top comment of wakeup.pml explains every variant. Skipped when spin or a C
// compiler is not installed (CI installs spin).
func TestWakeupModel(t *testing.T) {
	if testing.Short() {
		t.Skip("model checking is not short")
	}
	spin, err := exec.LookPath("spin")
	if err != nil {
		t.Skip("spin is not installed (apt-get install spin)")
	}
	cc := ""
	for _, name := range []string{"cc", "gcc", "clang"} {
		if p, err := exec.LookPath(name); err == nil {
			cc = p
			break
		}
	}
	if cc == "" {
		t.Skip("no C compiler for spin's verifier")
	}
	model, err := os.ReadFile(filepath.Join("model", "wakeup.pml"))
	if err != nil {
		t.Fatal(err)
	}
	// A lost wakeup shows as the Watchdog's assertion that no side sleeps
	// while it has work (rxAsleep or txAsleep in the violated expression).
	lostWakeup := regexp.MustCompile(`assertion violated\s+!\(\((rx|tx)Asleep`)
	for _, c := range []struct {
		name    string
		defines []string
		wantErr bool
	}{
		{"membarrier", nil, false},
		{"sc-fallback", []string{"-DSC"}, false},
		{"no-membarrier", []string{"-DNO_MEMBARRIER"}, true},
		{"no-recheck", []string{"-DNO_RECHECK"}, true},
		{"sc-no-recheck", []string{"-DSC", "-DNO_RECHECK"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// spin and pan write pan.*, the trail and the verifier next
			// to the model: keep all of it in a temporary directory.
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "wakeup.pml"), model, 0o644); err != nil {
				t.Fatal(err)
			}
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
			run(spin, append(append([]string{"-a"}, c.defines...), "wakeup.pml")...)
			// -O1 compiles in half the time of -O2; the search is tiny.
			// -w20: a 2^20-slot hash table is plenty for ~10^5 states
			// (the default allocates over 100 MB and takes longer).
			run(cc, "-O1", "-o", "pan", "pan.c")
			out := run("./pan", "-m100000", "-w20")
			m := regexp.MustCompile(`errors: (\d+)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no verdict in spin's output:\n%s", out)
			}
			for _, bad := range []string{"max search depth too small", "out of memory"} {
				if strings.Contains(out, bad) {
					t.Fatalf("search incomplete (%s):\n%s", bad, out)
				}
			}
			failed := m[1] != "0"
			if failed != c.wantErr {
				if failed {
					trail := run(spin, append(append([]string{"-t", "-p", "-g"}, c.defines...), "wakeup.pml")...)
					t.Fatalf("errors: %s, want none\n%s\ncounterexample:\n%s", m[1], out, trail)
				}
				t.Fatalf("errors: %s, want a lost wakeup\n%s", m[1], out)
			}
			if c.wantErr && !lostWakeup.MatchString(out) {
				t.Fatalf("the variant failed, but not with a lost wakeup:\n%s", out)
			}
			if !c.wantErr && !strings.Contains(out, "Full statespace search") {
				t.Fatalf("not a full state-space search:\n%s", out)
			}
			verdict := regexp.MustCompile(`pan:\d+: (.*)`).FindStringSubmatch(out)
			stored := regexp.MustCompile(`(\d+) states, stored`).FindStringSubmatch(out)
			if stored == nil {
				t.Fatalf("no state count in spin's output:\n%s", out)
			}
			if verdict != nil {
				t.Logf("errors %s, %s states: %s", m[1], stored[1], verdict[1])
			} else {
				t.Logf("errors %s, %s states", m[1], stored[1])
			}
		})
	}
}
