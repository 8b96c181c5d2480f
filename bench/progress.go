package main

// Progress on stderr while a suite runs, so that a full run is never
// silent for minutes: before every run, the suite, the case, the
// implementation, the round (0/n is the warm-up) and an estimate of the
// time the suite has left. On a terminal this is one status line rewritten
// in place; otherwise (a file, a pipe, CI) one line per run. A run that
// takes long says so every progressEvery. Nothing of this goes to stdout,
// which carries the JSON lines and the table.

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// progressEvery is how often a long run reports that it is still running.
const progressEvery = 10 * time.Second

type progress struct {
	w       io.Writer
	tty     bool // rewrite one status line in place
	verbose bool // also print every run's result

	mu     sync.Mutex // the heartbeat prints from a timer goroutine
	status bool       // an unterminated status line is on screen (tty)

	suite       string
	total, done int // runs in the suite, runs finished
	start       time.Time
	runStart    time.Time
	what        string // the current run, for the heartbeat
	warmup      bool   // the current run is a warm-up
	beat        *time.Timer

	// For the estimate: warm-up runs are short (a fixed amount of work),
	// measured runs take about dur each.
	dur                time.Duration
	warmLeft, measLeft int
	warmN, measN       int
	warmT, measT       time.Duration
}

// newProgress reports on f, rewriting a status line if f is a terminal.
func newProgress(f *os.File, verbose bool) *progress {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return &progress{w: f, tty: err == nil, verbose: verbose}
}

// discardProgress reports nothing (tests).
func discardProgress() *progress { return &progress{w: io.Discard} }

// beginSuite starts counting the runs of a suite: warm runs of warm-up
// and meas measured runs of about dur each.
func (p *progress) beginSuite(name string, warm, meas int, dur time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.suite, p.total, p.done, p.start = name, warm+meas, 0, time.Now()
	p.warmLeft, p.measLeft, p.dur = warm, meas, dur
	p.warmN, p.measN, p.warmT, p.measT = 0, 0, 0, 0
}

// beginRun announces a run: round 0 is the warm-up.
func (p *progress) beginRun(cas, impl string, round, rounds int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.what = fmt.Sprintf("%s %s %s round %d/%d", p.suite, cas, impl, round, rounds)
	p.warmup = round == 0
	p.runStart = time.Now()
	p.line(fmt.Sprintf("bench: [%d/%d] %s, %s", p.done+1, p.total, p.what, p.eta()))
	p.beat = time.AfterFunc(progressEvery, p.heartbeat)
}

// endRun counts a finished (or failed) run; result is printed with -v.
func (p *progress) endRun(result string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.beat != nil {
		p.beat.Stop()
		p.beat = nil
	}
	p.done++
	if el := time.Since(p.runStart); p.warmup {
		p.warmLeft--
		p.warmN++
		p.warmT += el
	} else {
		p.measLeft--
		p.measN++
		p.measT += el
	}
	if p.verbose && result != "" {
		p.line(fmt.Sprintf("bench: %s: %s", p.what, result))
		p.newline()
	}
}

// skip counts measured runs that will not happen (an implementation that
// failed).
func (p *progress) skip(runs int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total -= runs
	p.measLeft -= runs
}

// endSuite ends the status line and says how long the suite took.
func (p *progress) endSuite() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, "bench: suite %s took %v\n", p.suite, time.Since(p.start).Round(time.Millisecond))
}

// printf prints a message of its own line (an error, a note).
func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, format, args...)
}

func (p *progress) heartbeat() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.beat == nil {
		return // the run ended meanwhile
	}
	p.line(fmt.Sprintf("bench: [%d/%d] %s still running (%v)", p.done+1, p.total, p.what,
		time.Since(p.runStart).Round(time.Second)))
	p.beat = time.AfterFunc(progressEvery, p.heartbeat)
}

// eta extrapolates the suite's time left from the runs done so far:
// warm-ups from warm-ups; measured runs from measured runs, or, before the
// first, from the target duration plus a warm-up's overhead.
func (p *progress) eta() string {
	if p.done == 0 {
		return "time left unknown"
	}
	var warm, meas time.Duration
	if p.warmN > 0 {
		warm = p.warmT / time.Duration(p.warmN)
	}
	if p.measN > 0 {
		meas = p.measT / time.Duration(p.measN)
	} else {
		meas = p.dur + warm
	}
	left := time.Duration(p.warmLeft)*warm + time.Duration(p.measLeft)*meas
	return fmt.Sprintf("~%v left", left.Round(time.Second))
}

// line shows s: in place on a terminal, else as a line of its own.
func (p *progress) line(s string) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", s)
		p.status = true
		return
	}
	fmt.Fprintln(p.w, s)
}

// newline keeps the current status line on a terminal.
func (p *progress) newline() {
	if p.status {
		fmt.Fprintln(p.w)
		p.status = false
	}
}

// clear removes the status line from a terminal.
func (p *progress) clear() {
	if p.status {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.status = false
	}
}
