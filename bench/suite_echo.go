package main

// Suite echo: a TCP echo server in a child process, one client program in
// this process for every server: 100 connections on 127.0.0.1, each sending
// a message and waiting for its whole echo, checking every byte; the
// figure is round trips per second over the measured window (after a
// warm-up). Every server gets 2 loops/threads:
//
//	fdring  loop.NewGroup(2) serving handlers.Echo, the server code of
//	        examples/echo
//	evio    evio.Serve with NumLoops 2, Data returns its input
//	gnet    gnet.Run with WithMulticore and WithNumEventLoop(2), OnTraffic
//	        writes back c.Next(-1)
//	net     net.Listen, a goroutine per connection, read/write, GOMAXPROCS 2

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fdring/fdring/handlers"
	"github.com/fdring/fdring/loop"
	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"github.com/tidwall/evio"
)

const (
	echoConns   = 100
	echoThreads = 2
)

type echoArgs struct {
	Impl string
}

var echoImpls = []string{"fdring", "evio", "gnet", "net"}

func echoSuite(cfg config) suite {
	t := echoTiming{warm: cfg.dur / 3, window: cfg.dur}
	s := suite{name: "echo", note: fmt.Sprintf("echo: server in a child process with %d loops/threads each "+
		"(fdring Group, evio NumLoops, gnet NumEventLoop+Multicore, net GOMAXPROCS); one Go client process, "+
		"%d connections, one message in flight per connection, every byte checked; library defaults otherwise",
		echoThreads, echoConns)}
	for _, c := range []struct {
		name string
		msg  int
	}{{"64B/100conns", 64}, {"4KiB/100conns", 4 << 10}} {
		bc := benchCase{name: c.name, unit: "roundtrips/s", kind: throughput, n0: 1, nMin: 1, nMax: 1}
		for _, im := range echoImpls {
			bc.impls = append(bc.impls, impl{name: im, run: func(ctx context.Context, _ int64) (sample, error) {
				return runEcho(ctx, im, c.msg, t)
			}})
		}
		s.cases = append(s.cases, bc)
	}
	return s
}

// echoTiming is the warm-up and the measured window of one run.
type echoTiming struct{ warm, window time.Duration }

func runEcho(ctx context.Context, im string, msg int, t echoTiming) (sample, error) {
	p, err := spawn(ctx, "echo-server", echoArgs{Impl: im})
	if err != nil {
		return sample{}, err
	}
	defer p.kill()
	addr, err := p.expect("ready")
	if err != nil {
		return sample{}, err
	}
	return echoClient(ctx, addr, msg, echoConns, t, p.cmd.Process.Pid)
}

// echoCounter is one connection's count, on its own cache lines.
type echoCounter struct {
	n atomic.Uint64
	_ [120]byte
}

// echoClient runs conns connections against addr and counts round trips
// during the window that follows the warm-up. It also reports the server
// process's CPU time per round trip over the window (all its threads),
// the server's efficiency whatever share of the CPUs the client takes.
func echoClient(ctx context.Context, addr string, msg, conns int, t echoTiming, server int) (sample, error) {
	cs := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	var d net.Dialer
	for range conns {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return sample{}, err
		}
		if dl, ok := ctx.Deadline(); ok {
			c.SetDeadline(dl)
		}
		cs = append(cs, c)
	}
	counts := make([]echoCounter, conns)
	var (
		stop atomic.Bool
		wg   sync.WaitGroup
		mu   sync.Mutex
		cerr error
	)
	for i, c := range cs {
		wg.Go(func() {
			out, in := pattern(msg), make([]byte, msg)
			binary.LittleEndian.PutUint32(out[8:], uint32(i))
			for seq := int64(0); !stop.Load(); seq++ {
				stamp(out, seq)
				_, err := c.Write(out)
				if err == nil {
					_, err = io.ReadFull(c, in)
				}
				if err == nil && !bytes.Equal(in, out) {
					err = fmt.Errorf("conn %d: echo %d differs", i, seq)
				}
				if err != nil {
					mu.Lock()
					cerr = errors.Join(cerr, err)
					mu.Unlock()
					stop.Store(true)
					return
				}
				counts[i].n.Add(1)
			}
		})
	}
	sum := func() (s uint64) {
		for i := range counts {
			s += counts[i].n.Load()
		}
		return s
	}
	// The window is measured, not synchronised on: the workers run
	// independently of it and are stopped by the flag.
	warm := time.NewTimer(t.warm)
	select {
	case <-warm.C:
	case <-ctx.Done():
	}
	cpu0 := cpuTime(server)
	c0, t0 := sum(), time.Now()
	window := time.NewTimer(t.window)
	select {
	case <-window.C:
	case <-ctx.Done():
	}
	// A window so short (or a machine so busy) that no round trip ended in
	// it measures nothing: extend it until one does.
	if sum() == c0 {
		tick := time.NewTicker(time.Millisecond)
		for sum() == c0 && ctx.Err() == nil {
			<-tick.C
		}
		tick.Stop()
	}
	c1, el := sum(), time.Since(t0)
	cpu1 := cpuTime(server)
	stop.Store(true)
	wg.Wait()
	if cerr != nil {
		return sample{}, cerr
	}
	if err := ctx.Err(); err != nil {
		return sample{}, err
	}
	rt := float64(c1 - c0)
	return sample{units: rt, elapsed: el,
		extra: map[string]float64{"server-cpu-ns/roundtrip": float64(cpu1-cpu0) / rt}}, nil
}

// cpuTime is the CPU time, in ns, that the threads of process pid have
// run (the first field of each /proc/pid/task/*/schedstat).
func cpuTime(pid int) uint64 {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var total uint64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			v, _ := strconv.ParseUint(f[0], 10, 64)
			total += v
		}
	}
	return total
}

// echoServer is the child: it serves until the parent goes.
func echoServer(ctl *childCtl) error {
	var a echoArgs
	if err := ctl.decode(&a); err != nil {
		return err
	}
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), echoThreads))
	ctx := context.Background()
	switch a.Impl {
	case "fdring":
		g, err := loop.NewGroup(echoThreads)
		if err != nil {
			return err
		}
		ln, err := g.Listen("tcp", "127.0.0.1:0", handlers.NewEcho())
		if err != nil {
			return err
		}
		ctl.ready(ln.Addr().String())
		return g.Run(ctx)
	case "evio":
		var ev evio.Events
		ev.NumLoops = echoThreads
		ev.Serving = func(s evio.Server) evio.Action {
			ctl.ready(s.Addrs[0].String())
			return evio.None
		}
		ev.Data = func(_ evio.Conn, in []byte) ([]byte, evio.Action) { return in, evio.None }
		return evio.Serve(ev, "tcp://127.0.0.1:0")
	case "gnet":
		addr, err := freePort()
		if err != nil {
			return err
		}
		return gnet.Run(&gnetEcho{ready: func() { ctl.ready(addr) }}, "tcp://"+addr,
			gnet.WithMulticore(true), gnet.WithNumEventLoop(echoThreads), gnet.WithLogLevel(logging.ErrorLevel))
	case "net":
		runtime.GOMAXPROCS(echoThreads)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ctl.ready(ln.Addr().String())
		for {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}
	return fmt.Errorf("unknown impl %q", a.Impl)
}

// freePort finds a port the kernel considers free (gnet cannot report the
// port it bound for ":0").
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

type gnetEcho struct {
	gnet.BuiltinEventEngine
	ready func()
}

func (g *gnetEcho) OnBoot(gnet.Engine) gnet.Action {
	g.ready()
	return gnet.None
}

func (g *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	c.Write(buf)
	return gnet.None
}
