// Command bench measures fdring side by side with the alternatives a user
// would otherwise pick, on this machine, in one run.
//
//	cd bench && go run . -suite S [-quick] [-json] [-svg FILE]
//
// S is one of ring, bytes, pingpong, echo, fanin, conn, all. Every suite runs all
// its implementations in the same run, interleaved, for several rounds and
// reports medians; cross-process cases use real child processes (this
// binary re-executed). With -json every measurement is one line
//
//	{"suite":"ring","case":"u64/batch64","impl":"fdring","value":123456789,"unit":"items/s"}
//
// and a table of ratios against the best alternative follows. Every run
// also reports a cache-line ping-pong probe at its start and end (suite
// "probe"), because all cross-CPU figures move with it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
)

func main() {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role))
	}
	os.Exit(benchMain(os.Args[1:]))
}

// suites lists every suite in the order "all" runs them.
var suites = []struct {
	name string
	make func(config) suite
}{
	{"ring", ringSuite},
	{"bytes", bytesSuite},
	{"pingpong", pingpongSuite},
	{"fanin", fanInSuite},
	{"echo", echoSuite},
	{"conn", connSuite},
}

func benchMain(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	name := fs.String("suite", "all", "suite to run: ring, bytes, pingpong, fanin, echo, conn or all")
	quick := fs.Bool("quick", false, "short runs (each suite under about a minute)")
	asJSON := fs.Bool("json", false, "print one JSON line per measurement before the table")
	svg := fs.String("svg", "", "draw the ratios as a bar chart into this SVG file")
	pin := fs.Bool("pin", true, "pingpong: run the parent and the child on two separate CPUs")
	verbose := fs.Bool("v", false, "also print every run's figures on stderr")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of this (the parent) process to this file")
	from := fs.String("from", "", "measure nothing: read the JSON lines of an earlier -json run from this file, print its table (and -svg)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from != "" {
		return replay(*from, *svg)
	}
	var chosen []func(config) suite
	var names []string
	for _, s := range suites {
		names = append(names, s.name)
		if *name == s.name || *name == "all" {
			chosen = append(chosen, s.make)
		}
	}
	if len(chosen) == 0 {
		fmt.Fprintf(os.Stderr, "bench: unknown suite %q (want %s or all)\n", *name, strings.Join(names, ", "))
		return 2
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := newConfig(*quick)
	cfg.pin = *pin
	pr := newProgress(os.Stderr, *verbose)
	emit := func(ms ...measurement) {
		if *asJSON {
			if err := writeJSON(os.Stdout, ms); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
		}
	}

	fmt.Fprintf(os.Stderr, "bench: %s, GOMAXPROCS=%d, %s, rounds=%d, %v per run\n",
		runtime.Version(), runtime.GOMAXPROCS(0), loadavg(), cfg.rounds, cfg.dur)
	all := []measurement{probe(cfg.pin)}
	emit(all[0])
	var notes []string
	for _, mk := range chosen {
		s := mk(cfg)
		ms := runSuite(ctx, cfg, s, pr)
		emit(ms...)
		all = append(all, ms...)
		if s.note != "" {
			notes = append(notes, s.note)
		}
	}
	end := probe(cfg.pin)
	emit(end)
	all = append(all, end)
	notes = append(notes, fmt.Sprintf("machine: %s/%s, %d CPUs, %s, %s at the end", runtime.GOOS, runtime.GOARCH,
		runtime.NumCPU(), runtime.Version(), loadavg()))
	writeTable(os.Stdout, all, notes)
	if *svg != "" {
		if err := drawSVG(*svg, all); err != nil {
			fmt.Fprintln(os.Stderr, "bench: svg:", err)
			return 1
		}
	}
	if ctx.Err() != nil {
		return 1
	}
	return 0
}

// loadavg reads the load average, since other work on this machine moves
// every figure.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "load unknown"
	}
	return "load " + strings.Join(f[:3], " ")
}

// replay prints the table (and draws the chart) of a saved -json run.
func replay(path, svg string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	var ms []measurement
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m measurement
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		m.kind = kindOf(m.Unit)
		ms = append(ms, m)
	}
	writeTable(os.Stdout, ms, nil)
	if svg != "" {
		if err := drawSVG(svg, ms); err != nil {
			fmt.Fprintln(os.Stderr, "bench: svg:", err)
			return 1
		}
	}
	return 0
}
