package main

// Suite conn: fdnet as a drop-in net.Conn between two processes, against
// the sockets it replaces. The server runs in a child process (this binary
// re-executed, role "conn-server"), the client in this one, over each
// transport of package transport:
//
//	fdnet       fdnet.Listen / fdnet.Dial, fdnet's defaults
//	fdnet-spin  the same with fdnet.WithSpin(transport.Spin) on both ends
//	unixsocket  a unix stream socket, the Go net package
//	tcp         TCP on 127.0.0.1, the Go net package
//
// Cases (one connection each; the client checks everything it receives):
//
//	bytes/64KiB      the client Writes 64 KiB chunks, each stamped with its
//	                 sequence number; the server io.ReadFulls and checks
//	                 every chunk, then acks with one byte; bytes/s
//	pingpong/64B     64 bytes there and back, one in flight; p50/p99 (p99.9)
//	grpc/unary1KiB   gRPC UnaryCall echoing a 1 KiB payload; p50/p99 (p99.9)
//	grpc/stream1MiB  one StreamingOutputCall of 1 MiB messages; bytes/s
//	http/get8MiB     net/http GETs of 8 MiB bodies on one keep-alive
//	                 connection, 64 KiB Writes each stamped; bytes/s
//
// gRPC and net/http run with their library defaults. Every case also
// reports the server process's CPU time (all its threads,
// /proc/PID/task/*/schedstat) per operation, server-cpu-ns/op: one 64 KiB
// chunk, round trip, call, 1 MiB message or GET. The latency cases pin the
// two processes to two CPUs like the pingpong suite (-pin); the
// throughput cases leave placement to the scheduler, since gRPC and
// net/http run several goroutines a side.
//
// What the gRPC figures are made of. On the 2-vCPU machine these numbers
// come from, a unary call takes ~170-300 us at p50 over every transport,
// where grpc's own calibration on a quiet machine says 18-22 us. The
// harness adds none of it (per call: one clock read and a 1 KiB compare):
// a syscall costs 1.4-2.9 us there (getppid; the kernel runs with page
// table isolation), a unary call makes about a dozen of them (write,
// read, epoll_pwait, futex: strace, both sides), first-touch page faults
// are dear (with GOGC=off, which maps fresh heap instead of reusing it,
// p50 went from 42 to 103 us), and other work shares the two CPUs. In one
// process, client and server on one CPU, the same call took 40-45 us at
// p50 over a unix socket, 48-52 us over fdnet; two processes add two
// cross-process wakeups per call. The same placement (pinned or not),
// gRPC settings (library defaults) and GOGC apply to every transport.
// Neither pinning nor GC explains the gap: unpinned runs measured the
// same ratios within their noise, and GC-free runs were slower.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/fdring/fdring/bench/grpcsvc"
	"github.com/fdring/fdring/bench/transport"
	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// Sizes of the cases.
const (
	connChunk  = 64 << 10 // bytes/64KiB
	connPing   = 64       // pingpong/64B
	connUnary  = 1 << 10  // grpc/unary1KiB
	connStream = 1 << 20  // grpc/stream1MiB
	connBody   = 8 << 20  // http/get8MiB
)

// Server modes of the child.
const (
	connRaw  = "raw"  // bytes/64KiB and pingpong/64B (connOp headers)
	connGRPC = "grpc" // grpcsvc.Service
	connHTTP = "http" // connHTTPHandler
)

// A raw connection starts with a header: the op and its argument.
const (
	connOpSink = 1 // read Arg chunks of connChunk bytes, check them, ack with one byte
	connOpEcho = 2 // echo messages of Arg bytes until EOF
)

// connMaxBody bounds what the HTTP server sends for one GET.
const connMaxBody = 1 << 30

// unitCPU is the server's CPU time per operation.
const unitCPU = "server-cpu-ns/op"

type connArgs struct {
	Transport string
	Mode      string
	Dir       string // private directory for the socket
	Pin       bool   // run the child on CPU
	CPU       int
}

// connLatency is how a latency case is run: its budget and placement.
type connLatency struct {
	budget time.Duration
	pin    bool
	cpus   cpuPair
}

func connSuite(cfg config) suite {
	lat := connLatency{budget: 3 * cfg.dur}
	where := "placed by the scheduler (-pin=false)"
	if cfg.pin {
		if lat.cpus, lat.pin = choosePins(); lat.pin {
			where = fmt.Sprintf("client pinned to CPU %d while it times, server process to CPU %d", lat.cpus.parent, lat.cpus.child)
		} else {
			where = "not pinned (fewer than 2 CPUs allowed)"
		}
	}
	s := suite{name: "conn", note: fmt.Sprintf("conn: server in a child process, client in this one, one connection; "+
		"fdnet defaults, fdnet-spin WithSpin(%v) on both ends, unixsocket and tcp (127.0.0.1) the Go net package; "+
		"gRPC %s and net/http with library defaults; latency cases %s, throughput cases placed by the scheduler; "+
		"ns = p50, ns-p99 = p99, ns-p999 = p99.9 (full runs), first 1/%d of each run dropped; "+
		"%s = the server process's CPU time per 64 KiB chunk, round trip, call, 1 MiB message or GET",
		transport.Spin, grpc.Version, where, rttWarmFraction, unitCPU)}
	type connCase struct {
		bc  benchCase
		run func(ctx context.Context, srv *connServer, n int64) (sample, error)
		how connArgs
	}
	cases := []connCase{
		{benchCase{name: "bytes/64KiB", unit: "bytes/s", kind: throughput, n0: 64 << 20, nMin: 16 << 20, nMax: 1 << 38},
			connBytes, connArgs{Mode: connRaw}},
		{benchCase{name: "pingpong/64B", unit: unitP50, kind: latency, n0: 2000, nMin: 500, nMax: pingpongMaxRTTs},
			func(ctx context.Context, srv *connServer, n int64) (sample, error) {
				return connPingpong(ctx, srv, n, lat)
			},
			connArgs{Mode: connRaw, Pin: lat.pin, CPU: lat.cpus.child}},
		{benchCase{name: "grpc/unary1KiB", unit: unitP50, kind: latency, n0: 500, nMin: 200, nMax: pingpongMaxRTTs},
			func(ctx context.Context, srv *connServer, n int64) (sample, error) {
				return connUnaryCalls(ctx, srv, n, lat)
			},
			connArgs{Mode: connGRPC, Pin: lat.pin, CPU: lat.cpus.child}},
		{benchCase{name: "grpc/stream1MiB", unit: "bytes/s", kind: throughput, n0: 64 << 20, nMin: 16 << 20, nMax: 1 << 38},
			connServerStream, connArgs{Mode: connGRPC}},
		{benchCase{name: "http/get8MiB", unit: "bytes/s", kind: throughput, n0: 64 << 20, nMin: 16 << 20, nMax: 1 << 38},
			connHTTPGets, connArgs{Mode: connHTTP}},
	}
	for _, c := range cases {
		for _, im := range transport.Names() {
			a := c.how
			a.Transport = im
			c.bc.impls = append(c.bc.impls, impl{name: im, run: func(ctx context.Context, n int64) (sample, error) {
				srv, err := startConnServer(ctx, a)
				if err != nil {
					return sample{}, err
				}
				defer srv.close()
				return c.run(ctx, srv, n)
			}})
		}
		s.cases = append(s.cases, c.bc)
	}
	return s
}

// connServer is the client's handle on one server process.
type connServer struct {
	p       *proc
	tr      transport.Transport
	addr    string
	cleanup func()
}

// startConnServer starts a server process as a says and waits until it
// listens.
func startConnServer(ctx context.Context, a connArgs) (_ *connServer, err error) {
	tr, err := transport.Get(a.Transport)
	if err != nil {
		return nil, err
	}
	dir, cleanup, err := tempDir()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	a.Dir = dir
	p, err := spawn(ctx, "conn-server", a)
	if err != nil {
		return nil, err
	}
	addr, err := p.expect("ready")
	if err != nil {
		p.kill()
		return nil, err
	}
	return &connServer{p: p, tr: tr, addr: addr, cleanup: cleanup}, nil
}

func (s *connServer) dial(ctx context.Context) (net.Conn, error) { return s.tr.Dial(ctx, s.addr) }

// cpu is the server process's CPU time so far, in ns.
func (s *connServer) cpu() uint64 { return cpuTime(s.p.cmd.Process.Pid) }

func (s *connServer) close() {
	s.p.kill()
	s.cleanup()
}

// dialRaw connects for a raw op: the connection is closed when ctx ends,
// which ends any Read or Write on it.
func (s *connServer) dialRaw(ctx context.Context, op, arg uint64) (net.Conn, func(), error) {
	c, err := s.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	done := func() {
		stop()
		c.Close()
	}
	var hdr [16]byte
	binary.LittleEndian.PutUint64(hdr[:], op)
	binary.LittleEndian.PutUint64(hdr[8:], arg)
	if _, err := c.Write(hdr[:]); err != nil {
		done()
		return nil, nil, err
	}
	return c, done, nil
}

// ctxErr prefers the context's error: a connection closed because the
// run's deadline passed reports that.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// connBytes streams about n bytes in 64 KiB Writes; the run ends when the
// server acked the last chunk.
func connBytes(ctx context.Context, srv *connServer, n int64) (sample, error) {
	chunks := max(1, n/connChunk)
	c, done, err := srv.dialRaw(ctx, connOpSink, uint64(chunks))
	if err != nil {
		return sample{}, err
	}
	defer done()
	src := pattern(connChunk)
	var ack [1]byte
	cpu0, start := srv.cpu(), time.Now()
	for i := range chunks {
		stamp(src, i)
		if _, err := c.Write(src); err != nil {
			return sample{}, ctxErr(ctx, err)
		}
	}
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		return sample{}, ctxErr(ctx, fmt.Errorf("ack: %w", err))
	}
	el, cpu := time.Since(start), srv.cpu()-cpu0
	return sample{units: float64(chunks * connChunk), elapsed: el,
		extra: map[string]float64{unitCPU: float64(cpu) / float64(chunks)}}, nil
}

// pinFor pins this process for a latency run, if lat says so.
func (lat connLatency) pinFor() (func() error, error) {
	if !lat.pin {
		return func() error { return nil }, nil
	}
	return pinProcess(lat.cpus.parent)
}

// connPingpong does up to n round trips of 64 bytes.
func connPingpong(ctx context.Context, srv *connServer, n int64, lat connLatency) (sample, error) {
	c, done, err := srv.dialRaw(ctx, connOpEcho, connPing)
	if err != nil {
		return sample{}, err
	}
	defer done()
	lg := newRTTLog(max(n, 1), lat.budget)
	unpin, err := lat.pinFor()
	if err != nil {
		return sample{}, err
	}
	defer unpin()
	cpu0, start := srv.cpu(), time.Now()
	err = roundTrips(lg, connPing, func(b []byte) error {
		_, err := c.Write(b)
		return err
	}, func(b []byte) error {
		_, err := io.ReadFull(c, b)
		return err
	})
	el, cpu := time.Since(start), srv.cpu()-cpu0
	if err != nil {
		return sample{}, ctxErr(ctx, err)
	}
	laps := lg.laps()
	return sample{units: float64(len(laps)), elapsed: el, lat: laps,
		extra: map[string]float64{unitCPU: float64(cpu) / float64(len(laps))}}, nil
}

// connUnaryCalls makes up to n UnaryCalls echoing 1 KiB, each timed.
func connUnaryCalls(ctx context.Context, srv *connServer, n int64, lat connLatency) (sample, error) {
	cc, err := grpcsvc.NewClient(srv.tr.Name, srv.dial)
	if err != nil {
		return sample{}, err
	}
	defer cc.Close()
	client := testpb.NewTestServiceClient(cc)
	body := pattern(connUnary)
	req := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: body}}
	// The first call connects (and is not timed).
	if _, err := client.UnaryCall(ctx, req); err != nil {
		return sample{}, err
	}
	lg := newRTTLog(max(n, 1), lat.budget)
	unpin, err := lat.pinFor()
	if err != nil {
		return sample{}, err
	}
	defer unpin()
	cpu0, start := srv.cpu(), time.Now()
	lg.start()
	for i := int64(0); ; i++ {
		stamp(body, i)
		resp, err := client.UnaryCall(ctx, req)
		if err != nil {
			return sample{}, err
		}
		more := lg.lap()
		if !bytes.Equal(resp.GetPayload().GetBody(), body) {
			return sample{}, fmt.Errorf("call %d: echo differs", i)
		}
		if !more {
			break
		}
	}
	el, cpu := time.Since(start), srv.cpu()-cpu0
	laps := lg.laps()
	return sample{units: float64(len(laps)), elapsed: el, lat: laps,
		extra: map[string]float64{unitCPU: float64(cpu) / float64(len(laps))}}, nil
}

// connServerStream receives about n bytes as 1 MiB messages of one
// server stream.
func connServerStream(ctx context.Context, srv *connServer, n int64) (sample, error) {
	cc, err := grpcsvc.NewClient(srv.tr.Name, srv.dial)
	if err != nil {
		return sample{}, err
	}
	defer cc.Close()
	client := testpb.NewTestServiceClient(cc)
	if _, err := client.UnaryCall(ctx, &testpb.SimpleRequest{}); err != nil { // connect
		return sample{}, err
	}
	msgs := max(1, n/connStream)
	req := &testpb.StreamingOutputCallRequest{ResponseParameters: make([]*testpb.ResponseParameters, msgs)}
	for i := range req.ResponseParameters {
		req.ResponseParameters[i] = &testpb.ResponseParameters{Size: connStream}
	}
	want := grpcsvc.Pattern(connStream)
	cpu0, start := srv.cpu(), time.Now()
	st, err := client.StreamingOutputCall(ctx, req)
	if err != nil {
		return sample{}, err
	}
	for i := range msgs {
		resp, err := st.Recv()
		if err != nil {
			return sample{}, fmt.Errorf("message %d: %w", i, err)
		}
		// Check the ends and the middle of every message: the whole of it
		// would cost the client more than the transport does.
		b := resp.GetPayload().GetBody()
		if len(b) != connStream || !bytes.Equal(b[:64], want[:64]) || !bytes.Equal(b[len(b)-64:], want[len(b)-64:]) ||
			!bytes.Equal(b[len(b)/2:len(b)/2+64], want[len(b)/2:len(b)/2+64]) {
			return sample{}, fmt.Errorf("message %d: %d bytes, not the pattern", i, len(b))
		}
	}
	if _, err := st.Recv(); err != io.EOF {
		return sample{}, fmt.Errorf("after the last message: %v, want io.EOF", err)
	}
	el, cpu := time.Since(start), srv.cpu()-cpu0
	return sample{units: float64(msgs * connStream), elapsed: el,
		extra: map[string]float64{unitCPU: float64(cpu) / float64(msgs)}}, nil
}

// connHTTPGets GETs 8 MiB bodies until about n bytes came, on one
// keep-alive connection, reading each body in 64 KiB pieces and checking
// each piece's stamp.
func connHTTPGets(ctx context.Context, srv *connServer, n int64) (sample, error) {
	tr := &http.Transport{
		DialContext:        func(ctx context.Context, _, _ string) (net.Conn, error) { return srv.dial(ctx) },
		DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	get := func(size int64, buf []byte) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://conn/get?n="+strconv.FormatInt(size, 10), nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ContentLength != size {
			return fmt.Errorf("GET: %s, %d bytes, want 200 OK and %d", resp.Status, resp.ContentLength, size)
		}
		for i := int64(0); i*connChunk < size; i++ {
			piece := buf[:min(connChunk, size-i*connChunk)]
			if _, err := io.ReadFull(resp.Body, piece); err != nil {
				return fmt.Errorf("GET: piece %d: %w", i, err)
			}
			if len(piece) >= 8 {
				if err := checkStamp(piece, i); err != nil {
					return err
				}
			}
		}
		if m, err := resp.Body.Read(buf[:1]); m != 0 || err != io.EOF {
			return fmt.Errorf("GET: %d bytes past the body (%v)", m, err)
		}
		return nil
	}
	buf := make([]byte, connChunk)
	if err := get(connChunk, buf); err != nil { // connect
		return sample{}, ctxErr(ctx, err)
	}
	gets := max(1, n/connBody)
	cpu0, start := srv.cpu(), time.Now()
	for range gets {
		if err := get(connBody, buf); err != nil {
			return sample{}, ctxErr(ctx, err)
		}
	}
	el, cpu := time.Since(start), srv.cpu()-cpu0
	return sample{units: float64(gets * connBody), elapsed: el,
		extra: map[string]float64{unitCPU: float64(cpu) / float64(gets)}}, nil
}

// connHTTPHandler serves GET /get?n=BYTES: BYTES bytes of the pattern in
// 64 KiB Writes, each stamped with its sequence number.
func connHTTPHandler() http.Handler {
	mux := http.NewServeMux()
	src := pattern(connChunk)
	var mu sync.Mutex // src is stamped per Write: one GET at a time writes it
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		size, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		if err != nil || size < 0 || size > connMaxBody {
			http.Error(w, "n: want 0..1 GiB", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		w.Header().Set("Content-Type", "application/octet-stream")
		mu.Lock()
		defer mu.Unlock()
		for i := int64(0); i*connChunk < size; i++ {
			stamp(src, i)
			if _, err := w.Write(src[:min(connChunk, size-i*connChunk)]); err != nil {
				return
			}
		}
	})
	return mux
}

// connServe is the child: it serves a.Mode over a.Transport until the
// parent goes.
func connServe(ctl *childCtl) error {
	var a connArgs
	if err := ctl.decode(&a); err != nil {
		return err
	}
	if a.Pin {
		if _, err := pinProcess(a.CPU); err != nil {
			return err
		}
	}
	tr, err := transport.Get(a.Transport)
	if err != nil {
		return err
	}
	ln, addr, err := tr.Listen(a.Dir)
	if err != nil {
		return err
	}
	defer ln.Close()
	switch a.Mode {
	case connRaw:
		ctl.ready(addr)
		for {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			go func() {
				defer c.Close()
				if err := connRawServe(c); err != nil && !errors.Is(err, io.EOF) {
					fmt.Fprintln(os.Stderr, "bench child conn-server:", err)
				}
			}()
		}
	case connGRPC:
		srv := grpcsvc.NewServer(grpcsvc.NewService())
		ctl.ready(addr)
		return srv.Serve(ln)
	case connHTTP:
		ctl.ready(addr)
		return (&http.Server{Handler: connHTTPHandler(), ReadHeaderTimeout: time.Minute}).Serve(ln)
	}
	return fmt.Errorf("unknown mode %q", a.Mode)
}

// connRawServe serves one raw connection: its header, then the op.
func connRawServe(c net.Conn) error {
	var hdr [16]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return err
	}
	op, arg := binary.LittleEndian.Uint64(hdr[:]), binary.LittleEndian.Uint64(hdr[8:])
	switch op {
	case connOpSink:
		buf := make([]byte, connChunk)
		for i := range int64(min(arg, 1<<40)) {
			if _, err := io.ReadFull(c, buf); err != nil {
				return err
			}
			if err := checkStamp(buf, i); err != nil {
				return err
			}
		}
		_, err := c.Write([]byte{1})
		return err
	case connOpEcho:
		if arg < 8 || arg > 1<<20 {
			return fmt.Errorf("echo: message of %d bytes", arg)
		}
		buf := make([]byte, arg)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return err
			}
			if _, err := c.Write(buf); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("unknown op %d", op)
}
