// Command grpcipc runs a gRPC server and its client in two processes that
// talk over fdnet: shared-memory rings instead of a socket, with the
// server and client code of any gRPC program (grpc's own interop test
// service here). It starts the server as a child process (this program
// re-executed), makes unary calls, a server stream, a client stream and a
// bidirectional stream, prints what each did, and exits 0.
//
//	cd bench && go run ./cmd/grpcipc
//	go run ./cmd/grpcipc -transport unixsocket   # the same over a unix socket
//
// The only fdnet-specific lines are the server's listener and the
// client's dialer (see package transport):
//
//	ln, err := fdnet.Listen(path)                       // server
//	cc, err := grpc.NewClient("passthrough:///ipc",     // client
//		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
//			return fdnet.Dial(ctx, path)
//		}),
//		grpc.WithTransportCredentials(insecure.NewCredentials()))
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/fdring/fdring/bench/grpcsvc"
	"github.com/fdring/fdring/bench/transport"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// serverEnv, in the child's environment, names the transport and the
// directory it listens in ("TRANSPORT DIR").
const serverEnv = "GRPCIPC_SERVER"

func main() {
	if spec := os.Getenv(serverEnv); spec != "" {
		os.Exit(serve(spec))
	}
	os.Exit(run(os.Args[1:], os.Stdout))
}

// serve is the server process: it listens, says "ready ADDR" on stdout,
// and serves until its stdin closes (the client is done, or died).
func serve(spec string) int {
	name, dir, _ := strings.Cut(spec, " ")
	tr, err := transport.Get(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpcipc server:", err)
		return 1
	}
	ln, addr, err := tr.Listen(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpcipc server:", err)
		return 1
	}
	srv := grpcsvc.NewServer(grpcsvc.NewService())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		srv.Stop()
	}()
	fmt.Printf("ready %s\n", addr)
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "grpcipc server:", err)
		return 1
	}
	return 0
}

func run(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("grpcipc", flag.ContinueOnError)
	name := fs.String("transport", "fdnet", "fdnet, fdnet-spin, unixsocket or tcp")
	calls := fs.Int("calls", 2000, "unary calls of 1 KiB")
	streamMiB := fs.Int("stream", 256, "MiB the server streams, in 1 MiB messages")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *calls < 1 || *streamMiB < 1 {
		fmt.Fprintln(os.Stderr, "grpcipc: -calls and -stream must be at least 1")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := client(ctx, out, *name, *calls, *streamMiB); err != nil {
		fmt.Fprintln(os.Stderr, "grpcipc:", err)
		return 1
	}
	return 0
}

// client starts the server process, talks to it, and stops it.
func client(ctx context.Context, out io.Writer, name string, calls, streamMiB int) (err error) {
	tr, err := transport.Get(name)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "grpcipc-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, stop, err := startServer(ctx, name, dir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stop()) }()

	cc, err := grpcsvc.NewClient(name, func(ctx context.Context) (net.Conn, error) { return tr.Dial(ctx, addr) })
	if err != nil {
		return err
	}
	defer cc.Close()
	c := testpb.NewTestServiceClient(cc)
	fmt.Fprintf(out, "server: child process, gRPC over %s at %s\n", name, addr)

	// Unary calls, each one timed.
	body := grpcsvc.Pattern(1 << 10)
	req := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: body}}
	lat := make([]time.Duration, 0, calls)
	for i := range calls {
		body[0] = byte(i)
		t0 := time.Now()
		resp, err := c.UnaryCall(ctx, req)
		if err != nil {
			return fmt.Errorf("unary call %d: %w", i, err)
		}
		lat = append(lat, time.Since(t0))
		if !bytes.Equal(resp.GetPayload().GetBody(), body) {
			return fmt.Errorf("unary call %d: echo differs", i)
		}
	}
	slices.Sort(lat)
	fmt.Fprintf(out, "unary:         %d calls echoing 1 KiB, p50 %v, p99 %v (the first includes connecting)\n",
		calls, lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond))

	// A server stream of 1 MiB messages.
	sreq := &testpb.StreamingOutputCallRequest{}
	for range streamMiB {
		sreq.ResponseParameters = append(sreq.ResponseParameters, &testpb.ResponseParameters{Size: 1 << 20})
	}
	want := grpcsvc.Pattern(1 << 20)
	t0 := time.Now()
	ss, err := c.StreamingOutputCall(ctx, sreq)
	if err != nil {
		return err
	}
	for i := range streamMiB {
		resp, err := ss.Recv()
		if err != nil {
			return fmt.Errorf("server stream, message %d: %w", i, err)
		}
		if !bytes.Equal(resp.GetPayload().GetBody(), want) {
			return fmt.Errorf("server stream, message %d differs", i)
		}
	}
	if _, err := ss.Recv(); err != io.EOF {
		return fmt.Errorf("server stream: %v after the last message, want io.EOF", err)
	}
	el := time.Since(t0)
	fmt.Fprintf(out, "server stream: %d x 1 MiB in %v, %.0f MiB/s, every byte checked\n",
		streamMiB, el.Round(time.Millisecond), float64(streamMiB)/el.Seconds())

	// A client stream.
	cs, err := c.StreamingInputCall(ctx)
	if err != nil {
		return err
	}
	var sent int32
	for i := range 100 {
		p := grpcsvc.Pattern(1 << (i % 16))
		sent += int32(len(p))
		if err := cs.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: p}}); err != nil {
			return fmt.Errorf("client stream, message %d: %w", i, err)
		}
	}
	cresp, err := cs.CloseAndRecv()
	if err != nil {
		return fmt.Errorf("client stream: %w", err)
	}
	if got := cresp.GetAggregatedPayloadSize(); got != sent {
		return fmt.Errorf("client stream: server counted %d bytes, sent %d", got, sent)
	}
	fmt.Fprintf(out, "client stream: 100 messages, %d bytes, server counted %d\n", sent, cresp.GetAggregatedPayloadSize())

	// A bidirectional stream, one message in flight.
	bs, err := c.FullDuplexCall(ctx)
	if err != nil {
		return err
	}
	const echoes = 100
	for i := range echoes {
		msg := fmt.Appendf(nil, "message %d", i)
		if err := bs.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: msg}}); err != nil {
			return fmt.Errorf("bidi stream, send %d: %w", i, err)
		}
		resp, err := bs.Recv()
		if err != nil {
			return fmt.Errorf("bidi stream, echo %d: %w", i, err)
		}
		if !bytes.Equal(resp.GetPayload().GetBody(), msg) {
			return fmt.Errorf("bidi stream: echo %d differs", i)
		}
	}
	if err := bs.CloseSend(); err != nil {
		return err
	}
	if _, err := bs.Recv(); err != io.EOF {
		return fmt.Errorf("bidi stream: %v after the last echo, want io.EOF", err)
	}
	fmt.Fprintf(out, "bidi stream:   %d messages echoed one at a time\n", echoes)
	return nil
}

// startServer starts this program as the server process and waits until
// it listens; stop ends it (it exits when its stdin closes) and reaps it.
func startServer(ctx context.Context, name, dir string) (addr string, stop func() error, err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), serverEnv+"="+name+" "+dir)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("server process: %w", err)
	}
	stop = func() error {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("server process: %w", err)
		}
		return nil
	}
	// The read ends when the line comes, or when the child exits (killed
	// by ctx at the latest).
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		_ = cmd.Process.Kill()
		return "", nil, errors.Join(fmt.Errorf("server process did not start (%q, %v)", line, err), stop())
	}
	return addr, stop, nil
}
