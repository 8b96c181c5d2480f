package grpcsvc_test

// gRPC over fdnet, with the server in another process: this test binary
// re-executed (TestMain runs the server when childEnv names a transport).
// The same tests run over a unix socket (the transport fdnet replaces) and
// in one process over fdnet.Pipe, so that a failure over fdnet can be told
// from a failure of the test. The server process speaks to the test on its
// stdout, one line each: "ready ADDR", "error ERR", "event TEXT" (grpcsvc.Service.Event). It exits when
// its stdin closes.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fdring/fdring/bench/grpcsvc"
	"github.com/fdring/fdring/bench/transport"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

const (
	childEnv = "GRPCSVC_TEST_TRANSPORT"
	dirEnv   = "GRPCSVC_TEST_DIR"
)

// wait bounds every wait of these tests for something that must happen;
// callWait bounds a call or stream that moves megabytes (under -race on a
// loaded 2-CPU machine, 80 MB took longer than 30 s).
const (
	wait     = 30 * time.Second
	callWait = 2 * time.Minute
)

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		os.Exit(serveChild(name, os.Getenv(dirEnv)))
	}
	os.Exit(m.Run())
}

// serveChild is the server process.
func serveChild(name, dir string) int {
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0) // the test is done with us, or died
	}()
	tr, err := transport.Get(name)
	if err != nil {
		say("error %v", err)
		return 1
	}
	ln, addr, err := tr.Listen(dir)
	if err != nil {
		say("error %v", err)
		return 1
	}
	svc := grpcsvc.NewService()
	svc.Event = func(s string) { say("event %s", s) }
	srv := grpcsvc.NewServer(svc)
	say("ready %s", addr)
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "grpcsvc child:", err)
		return 1
	}
	return 0
}

// server is the test's handle on a gRPC server, in a child process or in
// this one.
type server struct {
	client testpb.TestServiceClient
	events chan string   // the server's Event lines
	kill   func() error  // SIGKILL the server process (nil in process)
	exited chan struct{} // closed when the server process is gone
}

// startChild runs a server over transport name in a child process and
// connects a client to it.
func startChild(t *testing.T, name string) *server {
	t.Helper()
	tr, err := transport.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*wait)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+name, dirEnv+"="+t.TempDir())
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(wait):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	s := &server{events: make(chan string, 64), exited: exited, kill: cmd.Process.Kill}
	var addr string
	select {
	case line, ok := <-lines:
		switch rest, _ := strings.CutPrefix(line, "ready "); {
		case !ok:
			t.Fatal("server process exited before it was ready")
		case rest == line:
			t.Fatalf("server process: %s", line)
		default:
			addr = rest
		}
	case <-time.After(wait):
		t.Fatal("server process not ready in time")
	}
	go func() {
		for line := range lines {
			if ev, ok := strings.CutPrefix(line, "event "); ok {
				s.events <- ev
			}
		}
	}()
	cc, err := grpcsvc.NewClient(name, func(ctx context.Context) (net.Conn, error) { return tr.Dial(ctx, addr) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	s.client = testpb.NewTestServiceClient(cc)
	return s
}

// startPipe runs a server in this process over fdnet.Pipe connections.
func startPipe(t *testing.T) *server {
	t.Helper()
	ln := transport.NewPipeListener()
	s := &server{events: make(chan string, 64)}
	svc := grpcsvc.NewService()
	svc.Event = func(e string) { s.events <- e }
	srv := grpcsvc.NewServer(svc)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	cc, err := grpcsvc.NewClient("pipe", func(ctx context.Context) (net.Conn, error) { return ln.Dial(ctx) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	s.client = testpb.NewTestServiceClient(cc)
	return s
}

// awaitEvent waits for the server's next event line that starts with
// prefix.
func (s *server) awaitEvent(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case ev := <-s.events:
			if strings.HasPrefix(ev, prefix) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no server event %q in %v", prefix, wait)
			return ""
		}
	}
}

// The transports the tests run over; "pipe" is in process.
var transports = []string{"fdnet", "fdnet-spin", "unixsocket", "pipe"}

func start(t *testing.T, name string) *server {
	if name == "pipe" {
		return startPipe(t)
	}
	return startChild(t, name)
}

func TestGRPC(t *testing.T) {
	for _, name := range transports {
		t.Run(name, func(t *testing.T) {
			s := start(t, name)
			t.Run("unary", func(t *testing.T) { testUnary(t, s) })
			t.Run("clientStream", func(t *testing.T) { testClientStream(t, s) })
			t.Run("serverStream", func(t *testing.T) { testServerStream(t, s) })
			t.Run("bidi", func(t *testing.T) { testBidi(t, s) })
			t.Run("cancel", func(t *testing.T) { testCancel(t, s) })
			t.Run("deadline", func(t *testing.T) { testDeadline(t, s) })
		})
	}
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callWait)
	t.Cleanup(cancel)
	return ctx
}

func random(r *rand.ChaCha8, n int) []byte {
	b := make([]byte, n)
	_, _ = r.Read(b) // never fails
	return b
}

func newRand(seed byte) *rand.ChaCha8 { return rand.NewChaCha8([32]byte{seed}) }

func testUnary(t *testing.T, s *server) {
	ctx := callCtx(t)
	r := newRand(1)
	for _, n := range []int{0, 1, 100, 1 << 10, 64<<10 + 3, 1 << 20, 3 << 20} {
		body := random(r, n)
		resp, err := s.client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: body}})
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if got := resp.GetPayload().GetBody(); !bytes.Equal(got, body) {
			t.Fatalf("%d bytes: echo of %d bytes differs", n, len(got))
		}
	}
	resp, err := s.client.UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.GetPayload().GetBody(), grpcsvc.Pattern(2<<20)) {
		t.Fatal("2 MiB response differs from the pattern")
	}
	_, err = s.client.UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: grpcsvc.MaxMessage + 1})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("oversized response: %v, want InvalidArgument", err)
	}
}

func testClientStream(t *testing.T, s *server) {
	ctx := callCtx(t)
	st, err := s.client.StreamingInputCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := newRand(2)
	var want int32
	for i := range 100 {
		n := int(r.Uint64() % (64 << 10))
		if i%40 == 0 {
			n = 1 << 20
		}
		want += int32(n)
		if err := st.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: random(r, n)}}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	resp, err := st.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetAggregatedPayloadSize(); got != want {
		t.Fatalf("server counted %d bytes, sent %d", got, want)
	}
}

func testServerStream(t *testing.T, s *server) {
	ctx := callCtx(t)
	sizes := []int32{0, 1, 7, 1 << 10, 64 << 10, 1 << 20, 1<<20 + 1, 3 << 20}
	sizes = append(sizes, sizes...)
	req := &testpb.StreamingOutputCallRequest{}
	for _, n := range sizes {
		req.ResponseParameters = append(req.ResponseParameters, &testpb.ResponseParameters{Size: n})
	}
	st, err := s.client.StreamingOutputCall(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	pat := grpcsvc.Pattern(3 << 20)
	for i, n := range sizes {
		resp, err := st.Recv()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(resp.GetPayload().GetBody(), pat[:n]) {
			t.Fatalf("message %d: %d bytes, want %d of the pattern", i, len(resp.GetPayload().GetBody()), n)
		}
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
}

func testBidi(t *testing.T, s *server) {
	ctx := callCtx(t)
	st, err := s.client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := newRand(3)
	const msgs = 300
	bodies := make([][]byte, msgs)
	for i := range bodies {
		bodies[i] = random(r, int(r.Uint64()%(32<<10)))
	}
	bodies[msgs/2] = random(r, 2<<20)
	// One goroutine sends everything while this one receives: the
	// echoes overlap the requests, both directions busy at once.
	sent := make(chan error, 1)
	go func() {
		for _, b := range bodies {
			if err := st.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: b}}); err != nil {
				sent <- err
				return
			}
		}
		sent <- st.CloseSend()
	}()
	for i, b := range bodies {
		resp, err := st.Recv()
		if err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
		if !bytes.Equal(resp.GetPayload().GetBody(), b) {
			t.Fatalf("echo %d differs", i)
		}
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("after the last echo: %v, want io.EOF", err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// testCancel: the client cancels a stream in progress; its Recv returns
// Canceled and the server's handler sees its context end.
func testCancel(t *testing.T, s *server) {
	ctx, cancel := context.WithCancel(callCtx(t))
	defer cancel()
	st, err := s.client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("hi")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil { // the handler is running
		t.Fatal(err)
	}
	cancel()
	if _, err := st.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("Recv after cancel: %v, want Canceled", err)
	}
	ev := s.awaitEvent(t, "FullDuplexCall: ")
	if !strings.HasSuffix(ev, context.Canceled.Error()) {
		t.Fatalf("server saw %q, want its context canceled", ev)
	}
}

// testDeadline: a call with a short deadline against a handler that
// blocks returns DeadlineExceeded, and the handler's context ends. The
// deadline is long enough for the request to reach the handler on a busy
// machine (the client is connected first).
func testDeadline(t *testing.T, s *server) {
	if _, err := s.client.UnaryCall(callCtx(t), &testpb.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(callCtx(t), time.Second)
	defer cancel()
	_, err := s.client.EmptyCall(ctx, &testpb.Empty{})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("EmptyCall with a 1s deadline: %v, want DeadlineExceeded", err)
	}
	s.awaitEvent(t, "EmptyCall: ")
}

// TestGRPCServerKilled: the server process is killed (SIGKILL) in the
// middle of a server stream; the client's stream fails within the bound
// instead of hanging.
func TestGRPCServerKilled(t *testing.T) {
	for _, name := range []string{"fdnet", "unixsocket"} {
		t.Run(name, func(t *testing.T) {
			s := startChild(t, name)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// More 64 KiB messages than the client will read: flow control
			// holds the server in Send.
			req := &testpb.StreamingOutputCallRequest{}
			for range 1 << 16 {
				req.ResponseParameters = append(req.ResponseParameters, &testpb.ResponseParameters{Size: 64 << 10})
			}
			st, err := s.client.StreamingOutputCall(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if _, err := st.Recv(); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			if err := s.kill(); err != nil {
				t.Fatal(err)
			}
			killed := time.Now()
			select {
			case <-s.exited:
			case <-time.After(wait):
				t.Fatal("server process not gone after SIGKILL")
			}
			// Whatever was in flight may still arrive; then the stream
			// must fail, long before this bound.
			bound := time.AfterFunc(wait, cancel)
			defer bound.Stop()
			var n int
			for n = 0; n < 1<<16; n++ {
				if _, err = st.Recv(); err != nil {
					break
				}
			}
			if ctx.Err() != nil || err == nil {
				t.Fatalf("stream still open %v after the server was killed (%d messages, %v)", wait, n, err)
			}
			if c := status.Code(err); c != codes.Unavailable && c != codes.Internal {
				t.Errorf("stream error %v, want Unavailable", err)
			}
			t.Logf("%d messages after the kill, then %v, %v after it", n, err, time.Since(killed).Round(time.Millisecond))
		})
	}
}
