package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Child processes re-execute the test binary: run their role instead.
func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role))
	}
	os.Exit(m.Run())
}

// smoke runs every case and implementation of a suite once, briefly, and
// checks that each produced a measurement; it returns them.
func smoke(t *testing.T, mk func(config) suite) []measurement {
	cfg := config{quick: true, pin: true, rounds: 1, dur: 20 * time.Millisecond, child: 30 * time.Second}
	s := mk(cfg)
	for i := range s.cases {
		c := &s.cases[i]
		c.nMin = max(1, c.nMin/16)
		c.n0 = c.nMin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var log bytes.Buffer
	ms := runSuite(ctx, cfg, s, &progress{w: &log})
	got := map[string]bool{}
	for _, m := range ms {
		got[m.Case+" "+m.Impl] = true
		// A server's CPU time comes from /proc/PID/task/*/schedstat, which
		// a thread that runs without a pause updates only at scheduler
		// ticks: over a smoke run of a few milliseconds a spinning server
		// can read 0 (seen once in CI), never less.
		if !(m.Value > 0) && !(m.Unit == unitCPU && m.Value == 0) {
			t.Errorf("%s %s %s: value %v %s", m.Suite, m.Case, m.Impl, m.Value, m.Unit)
		}
	}
	for _, c := range s.cases {
		for _, im := range c.impls {
			if !got[c.name+" "+im.name] {
				t.Errorf("%s %s %s: no measurement", s.name, c.name, im.name)
			}
		}
	}
	var js, table bytes.Buffer
	if err := writeJSON(&js, ms); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(js.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil || len(v) != 5 {
			t.Errorf("bad JSON line %q: %v", line, err)
		}
	}
	writeTable(&table, ms, nil)
	if !strings.Contains(table.String(), s.name) {
		t.Errorf("table lacks the suite:\n%s", table.String())
	}
	if t.Failed() {
		t.Logf("table:\n%s", table.String())
		t.Logf("progress:\n%s", log.String())
	}
	return ms
}

// units maps "case impl" to the units measured for it.
func units(ms []measurement) map[string][]string {
	u := map[string][]string{}
	for _, m := range ms {
		if m.Suite == "probe" {
			continue // the case's placement probe (see TestCasePlacement)
		}
		k := m.Case + " " + m.Impl
		u[k] = append(u[k], m.Unit)
	}
	return u
}

func TestRing(t *testing.T) {
	ms := smoke(t, ringSuite)
	for _, r := range ratios(ms) {
		if r.m.Suite == "probe" {
			continue
		}
		if r.m.Case == "bytes/4KiB" || r.m.Impl == "bare" {
			if !math.IsNaN(r.ceil) {
				t.Errorf("%s %s: ratio against a ceiling it does not have", r.m.Case, r.m.Impl)
			}
			continue
		}
		// fdring and chan in the u64 cases: against chan and against bare.
		if r.ref != "best alt: chan" || r.cref != "bare" || !(r.ceil > 0) {
			t.Errorf("%s %s: ratio %v %q, ceiling %v %q; want against chan and bare", r.m.Case, r.m.Impl,
				r.ratio, r.ref, r.ceil, r.cref)
		}
	}
}

func TestBytes(t *testing.T) { smoke(t, bytesSuite) }

// TestPingpong: every implementation, fdring-wait included, reports p50
// and p99 (not p99.9 in a quick run).
func TestPingpong(t *testing.T) {
	ms := smoke(t, pingpongSuite)
	for k, us := range units(ms) {
		slices.Sort(us)
		if !slices.Equal(us, []string{unitP50, unitP99}) {
			t.Errorf("%s: units %v, want ns and ns-p99", k, us)
		}
	}
	if u := units(ms); u["8B fdring-wait"] == nil {
		t.Errorf("no fdring-wait")
	}
}

// TestFanIn: the in-process cases, and procs/u64-batch1 with child
// processes, beside a unix socket, items/s and syscalls/msg for both.
func TestFanIn(t *testing.T) {
	ms := smoke(t, fanInSuite)
	u := units(ms)
	for _, k := range []string{"procs/u64-batch1 fdring", "procs/u64-batch1 unixsocket"} {
		if !slices.Contains(u[k], "items/s") || !slices.Contains(u[k], "syscalls/msg") {
			t.Errorf("%s: units %v", k, u[k])
		}
	}
}

func TestEcho(t *testing.T) { smoke(t, echoSuite) }

// fakeSuite has one latency case whose implementations return the round
// trips given (or fail).
func fakeSuite(lat []int64, fail bool) suite {
	run := func(context.Context, int64) (sample, error) {
		return sample{units: float64(len(lat)), elapsed: time.Millisecond, lat: slices.Clone(lat)}, nil
	}
	bad := func(context.Context, int64) (sample, error) { return sample{}, errors.New("broken") }
	c := benchCase{name: "8B", unit: unitP50, kind: latency, n0: 1, nMin: 1, nMax: 1,
		impls: []impl{{"fdring", run}, {"pipe", run}}}
	if fail {
		c.impls = append(c.impls, impl{"broken", bad})
	}
	return suite{name: "fake", cases: []benchCase{c}}
}

// TestLatencyFigures: p50, p99 and (in a full run) p99.9 of the round
// trips after the warm-up, not their mean.
func TestLatencyFigures(t *testing.T) {
	lat := make([]int64, 10000)
	for i := range lat {
		lat[i] = int64(i%1000) + 1 // 1..1000 ns, uniform
	}
	for i := range len(lat) / rttWarmFraction {
		lat[i] = 1e9 // a slow warm-up, dropped
	}
	lat[5000] = 1e9 // one descheduled round trip (instead of a 1): it moves the mean, not p50
	// After the warm-up: 9000 round trips, 1 ns eight times, 2..1000 ns
	// nine times each, and the slow one, so by nearest rank p50 (the
	// 4500th) is 501, p99 (the 8910th) 991, p99.9 (the 8991st) 1000.
	for _, quick := range []bool{true, false} {
		cfg := config{quick: quick, rounds: 3, dur: time.Millisecond, child: time.Minute}
		ms := runSuite(context.Background(), cfg, fakeSuite(lat, false), discardProgress())
		got := map[string]float64{}
		for _, m := range ms {
			if m.Impl == "fdring" {
				got[m.Unit] = m.Value
			}
		}
		want := map[string]float64{unitP50: 501, unitP99: 991, unitP999: 1000}
		if quick {
			delete(want, unitP999)
		}
		if !maps.Equal(got, want) {
			t.Errorf("quick=%v: got %v, want %v", quick, got, want)
		}
	}
}

// TestCasePlacement: before its rows, every case gets a probe row (suite
// probe, case "<suite> <case>") with one value per measured round, and no
// ratio; it goes to the JSON lines and the table like the others.
func TestCasePlacement(t *testing.T) {
	cfg := config{quick: true, rounds: 3, dur: time.Millisecond, child: time.Minute}
	s := fakeSuite([]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, false)
	s.cases = append(s.cases, s.cases[0])
	s.cases[1].name = "4KiB"
	ms := runSuite(context.Background(), cfg, s, discardProgress())
	var order []string
	for _, m := range ms {
		if m.Suite != "probe" {
			order = append(order, m.Case)
			continue
		}
		order = append(order, "probe "+m.Case)
		if m.Impl != "probe" || m.Unit != "ns" || m.kind != latency || len(m.values) != cfg.rounds {
			t.Errorf("probe row %+v: want impl probe, unit ns, %d values", m, cfg.rounds)
		}
		for _, v := range m.values {
			if !(v > 0) {
				t.Errorf("%s: probe value %v", m.Case, v)
			}
		}
		if m.Value != round(median(m.values)) {
			t.Errorf("%s: value %v, want the median of %v", m.Case, m.Value, m.values)
		}
	}
	// fakeSuite's latency case reports p50 and p99 for each of its two impls.
	want := []string{"probe fake 8B", "8B", "8B", "8B", "8B", "probe fake 4KiB", "4KiB", "4KiB", "4KiB", "4KiB"}
	if !slices.Equal(order, want) {
		t.Errorf("rows %v, want %v", order, want)
	}
	for _, r := range ratios(ms) {
		if r.m.Suite == "probe" && (!math.IsNaN(r.ratio) || !math.IsNaN(r.ceil)) {
			t.Errorf("probe row %s has a ratio %v / %v", r.m.Case, r.ratio, r.ceil)
		}
	}
	var table bytes.Buffer
	writeTable(&table, ms, nil)
	if !strings.Contains(table.String(), "fake 4KiB") {
		t.Errorf("table lacks the case probe:\n%s", table.String())
	}
}

func TestRTTLog(t *testing.T) {
	const n = minRTT + 3
	lg := newRTTLog(n, time.Hour)
	lg.start()
	for i := 1; i <= n; i++ {
		if got, want := lg.lap(), i < n; got != want {
			t.Errorf("lap %d of a log of %d: %v, want %v", i, n, got, want)
		}
	}
	if lg.lap(); len(lg.laps()) != n {
		t.Errorf("laps %d, want %d", len(lg.laps()), n)
	}
	// A small count still times minRTT round trips.
	if lg = newRTTLog(3, time.Hour); len(lg.ns) != minRTT {
		t.Errorf("a log for 3 holds %d, want minRTT %d", len(lg.ns), minRTT)
	}
	// Past its budget a log says stop, but only once it has minRTT laps.
	lg = newRTTLog(1000, time.Millisecond)
	lg.start()
	time.Sleep(2 * time.Millisecond)
	for i := 1; i < minRTT; i++ {
		if !lg.lap() {
			t.Fatalf("lap %d: stop before minRTT laps", i)
		}
	}
	if lg.lap() {
		t.Errorf("a log past its budget with minRTT laps must say stop")
	}
}

// TestProgress: one line per run on a non-terminal, naming the suite,
// case, impl and round, with the time left; a failed implementation's
// runs leave the count.
func TestProgress(t *testing.T) {
	var b bytes.Buffer
	pr := &progress{w: &b}
	cfg := config{quick: true, rounds: 2, dur: time.Millisecond, child: time.Minute}
	runSuite(context.Background(), cfg, fakeSuite([]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, true), pr)
	out := b.String()
	for _, want := range []string{
		"bench: [1/9] fake 8B fdring round 0/2, time left unknown\n",
		"bench: [2/9] fake 8B pipe round 0/2, ~",
		"bench: fake 8B broken: broken (left out)\n",
		"bench: [7/7] fake 8B pipe round 2/2, ~",
		"bench: suite fake took ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("carriage return on a non-terminal:\n%s", out)
	}
}

func TestJSONLine(t *testing.T) {
	var b bytes.Buffer
	m := measurement{Suite: "ring", Case: "u64/batch64", Impl: "fdring", Value: 123456789, Unit: "items/s"}
	if err := writeJSON(&b, []measurement{m}); err != nil {
		t.Fatal(err)
	}
	want := `{"suite":"ring","case":"u64/batch64","impl":"fdring","value":123456789,"unit":"items/s"}` + "\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestSVG(t *testing.T) {
	ms := []measurement{
		{Suite: "ring", Case: "a", Impl: "fdring", Value: 30, Unit: "items/s"},
		{Suite: "ring", Case: "a", Impl: "chan", Value: 1, Unit: "items/s"},
		{Suite: "pingpong", Case: "b", Impl: "fdring", Value: 100, Unit: "ns", kind: latency},
		{Suite: "pingpong", Case: "b", Impl: "pipe", Value: 50, Unit: "ns", kind: latency},
	}
	path := t.TempDir() + "/r.svg"
	if err := drawSVG(path, ms); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("no svg written: %v", err)
	}
}

// Benchmarks of the in-process ring cases, for profiling one at a time:
// go test -run XXX -bench Ring/fdring/batch64 -cpuprofile cpu.out
func BenchmarkRing(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		run  func(int64) (sample, error)
	}{
		{"fdring/batch1", func(n int64) (sample, error) { return ringU64(ctx, n, 1) }},
		{"fdring/batch64", func(n int64) (sample, error) { return ringU64(ctx, n, 64) }},
		{"chan/u64", func(n int64) (sample, error) { return chanU64(ctx, n) }},
		{"bare/batch1", func(n int64) (sample, error) { return bareU64(ctx, n, 1) }},
		{"bare/batch64", func(n int64) (sample, error) { return bareU64(ctx, n, 64) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := bc.run(int64(b.N)); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkPingpong runs one pingpong implementation (8-byte messages)
// against its child process, for profiling:
// go test -run XXX -bench Pingpong/fdring-spin
func BenchmarkPingpong(b *testing.B) {
	for _, im := range pingpongImpls {
		b.Run(im, func(b *testing.B) {
			if _, err := runPingpong(context.Background(), im, 8, int64(b.N), pingpongRun{budget: time.Hour}); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TestRoundTripsNoAlloc: the timed loop allocates nothing per round trip
// (its buffers are made once per run, before it).
func TestRoundTripsNoAlloc(t *testing.T) {
	wire := make([]byte, 8)
	send := func(b []byte) error { copy(wire, b); return nil }
	recv := func(b []byte) error { copy(b, wire); return nil }
	allocs := func(n int64) float64 {
		lg := newRTTLog(n, time.Hour)
		return testing.AllocsPerRun(5, func() {
			lg.n = 0
			if err := roundTrips(lg, 8, send, recv); err != nil {
				t.Fatal(err)
			}
		})
	}
	if few, many := allocs(10), allocs(10000); few != many {
		t.Errorf("allocations grow with the round trips: %v for 10, %v for 10000", few, many)
	}
}
