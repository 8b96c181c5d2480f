package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
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
// checks that each produced a measurement.
func smoke(t *testing.T, mk func(config) suite) {
	cfg := config{quick: true, rounds: 1, dur: 20 * time.Millisecond, child: 30 * time.Second}
	s := mk(cfg)
	for i := range s.cases {
		c := &s.cases[i]
		c.nMin = max(1, c.nMin/16)
		c.n0 = c.nMin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ms := runSuite(ctx, cfg, s, func(string) {})
	got := map[string]bool{}
	for _, m := range ms {
		got[m.Case+" "+m.Impl] = true
		if !(m.Value > 0) {
			t.Errorf("%s %s %s: value %v", m.Suite, m.Case, m.Impl, m.Value)
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
}

func TestRing(t *testing.T)     { smoke(t, ringSuite) }
func TestBytes(t *testing.T)    { smoke(t, bytesSuite) }
func TestPingpong(t *testing.T) { smoke(t, pingpongSuite) }
func TestFanIn(t *testing.T)    { smoke(t, fanInSuite) }
func TestEcho(t *testing.T)     { smoke(t, echoSuite) }

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
			if _, err := runPingpong(context.Background(), im, 8, int64(b.N)); err != nil {
				b.Fatal(err)
			}
		})
	}
}
