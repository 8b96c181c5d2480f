package main

// Child processes. Cross-process cases re-execute this binary
// (os.Executable) with childEnv naming the role and argsEnv carrying its
// arguments as JSON; fds (socket or pipe ends) travel as ExtraFiles and
// arrive as 3, 4, ... The parent talks to the child over two pipes: the
// child's stdin (parent -> child lines, "go"; EOF means "exit now") and its
// stdout (child -> parent lines, "ready ..."). The child's stderr is ours.
//
// Every child runs under exec.CommandContext with the run's deadline: a
// hung child is killed, and a child whose parent died sees EOF on stdin and
// exits.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

const (
	childEnv = "FDRING_BENCH_CHILD"
	argsEnv  = "FDRING_BENCH_ARGS"
)

// childRoles lists what a child can be.
var childRoles = map[string]func(*childCtl) error{
	"bytes-producer": bytesProducer,
	"pingpong-echo":  pingpongEcho,
	"fanin-producer": faninProducer,
	"echo-server":    echoServer,
	"conn-server":    connServe,
}

// proc is the parent's handle on one child.
type proc struct {
	cmd  *exec.Cmd
	in   *os.File // the child's stdin, our end
	out  *bufio.Reader
	outF *os.File
	done chan error
}

// spawn starts a child in role with args (JSON-encoded) and files as fds 3...
// The child is killed when ctx ends.
func spawn(ctx context.Context, role string, args any, files ...*os.File) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+role, argsEnv+"="+string(js))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	cmd.ExtraFiles = files
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start %s: %w", role, err)
	}
	p := &proc{cmd: cmd, in: inW, out: bufio.NewReader(outR), outF: outR, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	return p, nil
}

// expect reads the child's next line, which must start with word, and
// returns the rest. A child that dies or is killed ends the read.
func (p *proc) expect(word string) (string, error) {
	// Skip what a peer library logs to stdout before it (gnet does).
	for range 100 {
		line, err := p.out.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("child: waiting for %q: %w", word, err)
		}
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, word); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	return "", fmt.Errorf("child: no %q line", word)
}

func (p *proc) send(line string) error {
	_, err := io.WriteString(p.in, line+"\n")
	return err
}

// finish closes the child's stdin (it exits) and waits for it; the child's
// exit status is returned.
func (p *proc) finish() error {
	p.in.Close()
	err := <-p.done
	p.outF.Close()
	return err
}

// kill ends the child now and reaps it.
func (p *proc) kill() {
	p.in.Close()
	_ = p.cmd.Process.Kill()
	<-p.done
	p.outF.Close()
}

// childCtl is the child's side of the control pipes.
type childCtl struct {
	args  json.RawMessage
	lines chan string
}

// runChild runs the role named by the environment and returns the exit code.
func runChild(role string) int {
	fn, ok := childRoles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "bench child: unknown role %q\n", role)
		return 2
	}
	ctl := &childCtl{args: json.RawMessage(os.Getenv(argsEnv)), lines: make(chan string, 4)}
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			ctl.lines <- sc.Text()
		}
		os.Exit(0) // parent closed stdin or died: nothing more to do
	}()
	// A child never outlives a run by much, even if forgotten.
	time.AfterFunc(10*time.Minute, func() { os.Exit(4) })
	if err := fn(ctl); err != nil {
		fmt.Fprintf(os.Stderr, "bench child %s: %v\n", role, err)
		return 1
	}
	return 0
}

func (c *childCtl) decode(v any) error { return json.Unmarshal(c.args, v) }

func (c *childCtl) ready(info string) {
	fmt.Fprintln(os.Stdout, strings.TrimSpace("ready "+info))
}

// wait blocks until the parent sends word.
func (c *childCtl) wait(word string) error {
	line, ok := <-c.lines
	if !ok {
		return errors.New("control pipe closed")
	}
	if line != word {
		return fmt.Errorf("control: got %q, want %q", line, word)
	}
	return nil
}
