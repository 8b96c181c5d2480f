package main

// Suite pingpong: this process sends a message to a child process, which
// sends it back; one message in flight. Every round trip is timed (see
// latency.go): the figures are the p50 (unit ns), p99 (ns-p99) and, in full
// runs, p99.9 (ns-p999) of the round trips, lower is better. Each side
// copies the message in and out of its own buffer and the parent checks
// the stamp of every echo.
//
//	fdring       two byte rings (request, response), each side served by a
//	             loop.Loop with no spin: it sleeps on the ring's eventfd
//	fdring-spin  the same with loop.WithSpin(pingpongSpin) on both sides
//	fdring-wait  the same rings without a loop: each side calls SendWait and
//	             RecvWait with the library's defaults (DefaultSpin, then
//	             sleep)
//	eventfd      the wakeup alone: two raw eventfds and epoll_wait, the
//	             message copied through a shared memfd page (no ring)
//	seqpacket    the same with the wakeup primitive fdring's channels use
//	             between processes: 8-byte messages on one unix
//	             SOCK_SEQPACKET socketpair, epoll_wait, read
//	unixsocket   socketpair, blocking read/write
//	pipe         two pipes, blocking read/write
//	shmipc       one shmipc-go stream (WriteBytes+Flush, ReadBytes)

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/cloudwego/shmipc-go"
	"github.com/fdring/fdring"
	"golang.org/x/sys/unix"
)

// pingpongSpin is how long fdring-spin's loops poll their rings before
// sleeping: far above a spinning round trip (well under a microsecond), so
// that only a descheduled peer makes a side sleep.
const pingpongSpin = 200 * time.Microsecond

// pingpongRingCap holds a few of the largest messages.
const pingpongRingCap = 64 << 10

type pingpongArgs struct {
	Impl    string
	Msg     int
	ReqPath string // fdring: the child listens here for the request ring; shmipc: its listener
	Dir     string
	Pin     bool // run the child on CPU
	CPU     int
}

// pingpongRun is how one run is done: its time budget and where it runs.
type pingpongRun struct {
	budget time.Duration
	pin    bool // the parent on cpus.parent while it times, the child on cpus.child
	cpus   cpuPair
}

var pingpongImpls = []string{"fdring", "fdring-spin", "fdring-wait", "eventfd", "seqpacket", "unixsocket", "pipe", "shmipc"}

// pingpongMaxRTTs bounds the round trips of one run (and its rttLog: 8
// bytes each).
const pingpongMaxRTTs = 1 << 22

func pingpongSuite(cfg config) suite {
	// A run may take a few times the calibrated duration, since the round
	// trips may get slower after the calibration; not more.
	how := pingpongRun{budget: 3 * cfg.dur}
	where := "placed by the scheduler (-pin=false)"
	if cfg.pin {
		if how.cpus, how.pin = choosePins(); how.pin {
			where = fmt.Sprintf("parent pinned to CPU %d while it times, child process to CPU %d", how.cpus.parent, how.cpus.child)
		} else {
			where = "not pinned (fewer than 2 CPUs allowed)"
		}
	}
	s := suite{name: "pingpong", note: fmt.Sprintf("pingpong: parent <-> child process, one message in flight, %s; ", where) +
		fmt.Sprintf("fdring sleeps (loops without spin), fdring-spin loops WithSpin(%v), fdring-wait SendWait/RecvWait "+
			"with default spin (%v); eventfd is the bare wakeup (eventfd+epoll, message through a shared page), seqpacket "+
			"the same over a seqpacket socketpair (what fdring between processes wakes through); "+
			"sockets and pipes blocking; every round trip timed, first 1/%d of each run dropped; "+
			"ns = p50, ns-p99 = p99, ns-p999 = p99.9 (full runs), each the median over rounds; lower is better", pingpongSpin, fdring.DefaultSpin, rttWarmFraction)}
	for _, c := range []struct {
		name string
		msg  int
	}{{"8B", 8}, {"4KiB", 4 << 10}} {
		bc := benchCase{name: c.name, unit: unitP50, kind: latency, n0: 2000, nMin: 500, nMax: pingpongMaxRTTs}
		for _, im := range pingpongImpls {
			bc.impls = append(bc.impls, impl{name: im, run: func(ctx context.Context, n int64) (sample, error) {
				return runPingpong(ctx, im, c.msg, n, how)
			}})
		}
		s.cases = append(s.cases, bc)
	}
	return s
}

// pinger is the parent's side of one implementation: setup before the
// child is ready, then round trips, each timed into the log, until the
// log is full or the run's time budget is spent.
type pinger struct {
	files []*os.File             // the child's fds
	after func() error           // after the child said ready (connect)
	run   func(lg *rttLog) error // the timed round trips, until lg says stop
	close func()                 // release
}

// runPingpong does up to n round trips of msg bytes, as how says.
func runPingpong(ctx context.Context, im string, msg int, n int64, how pingpongRun) (sample, error) {
	dir, cleanup, err := tempDir()
	if err != nil {
		return sample{}, err
	}
	defer cleanup()
	a := pingpongArgs{Impl: im, Msg: msg, ReqPath: filepath.Join(dir, "req"), Dir: dir, Pin: how.pin, CPU: how.cpus.child}
	var pg pinger
	switch im {
	case "fdring", "fdring-spin", "fdring-wait":
		pg, err = fdringPinger(ctx, a)
	case "eventfd", "seqpacket":
		pg, err = eventfdPinger(ctx, a)
	case "unixsocket":
		pg, err = socketPinger(a)
	case "pipe":
		pg, err = pipePinger(a)
	case "shmipc":
		pg, err = shmipcPinger(a)
	default:
		err = fmt.Errorf("unknown impl %q", im)
	}
	if err != nil {
		return sample{}, err
	}
	defer pg.close()
	p, err := spawn(ctx, "pingpong-echo", a, pg.files...)
	for _, f := range pg.files {
		f.Close()
	}
	if err != nil {
		return sample{}, err
	}
	defer p.kill()
	if _, err := p.expect("ready"); err != nil {
		return sample{}, err
	}
	if pg.after != nil {
		if err := pg.after(); err != nil {
			return sample{}, err
		}
	}
	lg := newRTTLog(max(n, 1), how.budget)
	if how.pin {
		unpin, err := pinProcess(how.cpus.parent)
		if err != nil {
			return sample{}, err
		}
		defer unpin()
	}
	start := time.Now()
	if err := pg.run(lg); err != nil {
		return sample{}, err
	}
	el := time.Since(start)
	return sample{units: float64(len(lg.laps())), elapsed: el, lat: lg.laps()}, nil
}

// roundTrips runs the generic client: send, receive, check, each round
// trip timed, until the log says stop.
func roundTrips(lg *rttLog, msg int, send func([]byte) error, recv func([]byte) error) error {
	out, in := pattern(msg), make([]byte, msg)
	lg.start()
	for i := int64(0); ; i++ {
		stamp(out, i)
		if err := send(out); err != nil {
			return err
		}
		if err := recv(in); err != nil {
			return err
		}
		more := lg.lap()
		if err := checkStamp(in, i); err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

func socketPinger(a pingpongArgs) (pinger, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return pinger{}, err
	}
	fd := fds[0]
	return pinger{
		files: []*os.File{os.NewFile(uintptr(fds[1]), "sock")},
		run: func(lg *rttLog) error {
			return roundTrips(lg, a.Msg, func(b []byte) error { return writeFull(fd, b) },
				func(b []byte) error { return readFull(fd, b) })
		},
		close: func() { unix.Close(fd) },
	}, nil
}

func pipePinger(a pingpongArgs) (pinger, error) {
	var req, resp [2]int
	if err := unix.Pipe2(req[:], unix.O_CLOEXEC); err != nil {
		return pinger{}, err
	}
	if err := unix.Pipe2(resp[:], unix.O_CLOEXEC); err != nil {
		unix.Close(req[0])
		unix.Close(req[1])
		return pinger{}, err
	}
	return pinger{
		files: []*os.File{os.NewFile(uintptr(req[0]), "req"), os.NewFile(uintptr(resp[1]), "resp")},
		run: func(lg *rttLog) error {
			return roundTrips(lg, a.Msg, func(b []byte) error { return writeFull(req[1], b) },
				func(b []byte) error { return readFull(resp[0], b) })
		},
		close: func() { unix.Close(req[1]); unix.Close(resp[0]) },
	}, nil
}

// efdSide is one side of the eventfd implementation: it signals out and
// waits on in through its own epoll set.
type efdSide struct {
	out, in, ep int
	shm         []byte // [request | response]
	events      [1]unix.EpollEvent
	val         [8]byte
}

func newEfdSide(out, in int, shm []byte) (*efdSide, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, in, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(in)}); err != nil {
		unix.Close(ep)
		return nil, err
	}
	return &efdSide{out: out, in: in, ep: ep, shm: shm}, nil
}

func (s *efdSide) signal() error {
	s.val = [8]byte{1}
	for {
		_, err := unix.Write(s.out, s.val[:])
		if err != unix.EINTR {
			return err
		}
	}
}

// wait blocks until in is signalled. It wakes up every 100 ms to check
// ctx (a dead peer never signals): only a slow wait pays for that.
func (s *efdSide) wait(ctx context.Context) error {
	for {
		n, err := unix.EpollWait(s.ep, s.events[:], 100)
		if err == unix.EINTR {
			continue
		}
		if err == nil && n == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if _, err := unix.Read(s.in, s.val[:]); err != nil && err != unix.EINTR {
			return err
		}
		return nil
	}
}

// eventfdPinger is the bare wakeup: eventfds (impl eventfd), or one unix
// SOCK_SEQPACKET socketpair carrying both directions' wakeups as 8-byte
// messages (impl seqpacket: the primitive fdring's channels between
// processes wake through), each side waiting in epoll_wait.
func eventfdPinger(ctx context.Context, a pingpongArgs) (pinger, error) {
	var req, resp int // the parent signals req and waits on resp
	var childOut, childIn int
	if a.Impl == "seqpacket" {
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return pinger{}, err
		}
		req, resp = sp[0], sp[0]
		childOut, childIn = sp[1], sp[1]
	} else {
		var err error
		if req, err = unix.Eventfd(0, unix.EFD_CLOEXEC); err != nil {
			return pinger{}, err
		}
		if resp, err = unix.Eventfd(0, unix.EFD_CLOEXEC); err != nil {
			unix.Close(req)
			return pinger{}, err
		}
		childOut, childIn = resp, req
	}
	closeAll := func() {
		unix.Close(req)
		if resp != req {
			unix.Close(resp)
		}
		if childOut != resp {
			unix.Close(childOut) // seqpacket: the child's end (dup'd into the child)
		}
	}
	mfd, err := unix.MemfdCreate("pingpong", unix.MFD_CLOEXEC)
	if err == nil {
		err = unix.Ftruncate(mfd, int64(2*a.Msg))
	}
	var shm []byte
	if err == nil {
		shm, err = unix.Mmap(mfd, 0, 2*a.Msg, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	}
	var side *efdSide
	if err == nil {
		side, err = newEfdSide(req, resp, shm)
	}
	if err != nil {
		closeAll()
		if mfd >= 0 {
			unix.Close(mfd)
		}
		return pinger{}, err
	}
	// The child gets duplicates as its fds 3 (it waits on it) and 4 (it
	// signals it); ours stay open for the parent's side.
	files := []*os.File{dupFile(childIn, "in"), dupFile(childOut, "out"), os.NewFile(uintptr(mfd), "shm")}
	if files[0] == nil || files[1] == nil {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
		unix.Close(side.ep)
		closeAll()
		unix.Munmap(shm)
		return pinger{}, errors.New("eventfd: dup failed")
	}
	return pinger{
		files: files,
		run: func(lg *rttLog) error {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			return roundTrips(lg, a.Msg, func(b []byte) error {
				copy(side.shm[:a.Msg], b)
				return side.signal()
			}, func(b []byte) error {
				if err := side.wait(ctx); err != nil {
					return err
				}
				copy(b, side.shm[a.Msg:])
				return nil
			})
		},
		close: func() {
			unix.Close(side.ep)
			closeAll()
			unix.Munmap(shm)
		},
	}, nil
}

func dupFile(fd int, name string) *os.File {
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(d), name)
}

func shmipcPinger(a pingpongArgs) (pinger, error) {
	var (
		sm *shmipc.SessionManager
		st *shmipc.Stream
	)
	return pinger{
		after: func() (err error) {
			conf := shmipc.DefaultSessionManagerConfig()
			conf.Config = shmipcConfig(a.Dir, a.Msg)
			conf.Network, conf.Address = "unix", a.ReqPath
			if sm, err = shmipc.NewSessionManager(conf); err != nil {
				return err
			}
			st, err = sm.GetStream()
			return err
		},
		run: func(lg *rttLog) error {
			w, r := st.BufferWriter(), st.BufferReader()
			return roundTrips(lg, a.Msg, func(b []byte) error {
				if _, err := w.WriteBytes(b); err != nil {
					return err
				}
				return st.Flush(false)
			}, func(b []byte) error {
				got, err := r.ReadBytes(len(b))
				if err != nil {
					return err
				}
				copy(b, got)
				r.ReleasePreviousRead()
				return nil
			})
		},
		close: func() {
			if sm != nil {
				sm.Close()
			}
		},
	}, nil
}

// pingpongEcho is the child: it echoes every message until the parent goes.
func pingpongEcho(ctl *childCtl) error {
	var a pingpongArgs
	if err := ctl.decode(&a); err != nil {
		return err
	}
	if a.Pin {
		if _, err := pinProcess(a.CPU); err != nil {
			return err
		}
	}
	buf := make([]byte, a.Msg)
	switch a.Impl {
	case "unixsocket", "pipe":
		in, out := 3, 3
		if a.Impl == "pipe" {
			out = 4
		}
		ctl.ready("")
		for {
			if err := readFull(in, buf); err != nil {
				return nil // the parent is done
			}
			if err := writeFull(out, buf); err != nil {
				return nil
			}
		}
	case "eventfd", "seqpacket":
		shm, err := unix.Mmap(5, 0, 2*a.Msg, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return err
		}
		side, err := newEfdSide(4, 3, shm)
		if err != nil {
			return err
		}
		runtime.LockOSThread()
		ctl.ready("")
		for {
			if err := side.wait(context.Background()); err != nil {
				return err
			}
			copy(buf, shm[:a.Msg])
			copy(shm[a.Msg:], buf)
			if err := side.signal(); err != nil {
				return err
			}
		}
	case "shmipc":
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: a.ReqPath, Net: "unix"})
		if err != nil {
			return err
		}
		ctl.ready("")
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		sess, err := shmipc.Server(conn, shmipcConfig(a.Dir, a.Msg))
		if err != nil {
			return err
		}
		st, err := sess.AcceptStream()
		if err != nil {
			return err
		}
		r, w := st.BufferReader(), st.BufferWriter()
		for {
			got, err := r.ReadBytes(a.Msg)
			if err != nil {
				return nil // the parent is done
			}
			copy(buf, got)
			r.ReleasePreviousRead()
			if _, err := w.WriteBytes(buf); err != nil {
				return err
			}
			if err := st.Flush(false); err != nil {
				return err
			}
		}
	case "fdring", "fdring-spin", "fdring-wait":
		return fdringEcho(ctl, a, buf)
	}
	return fmt.Errorf("unknown impl %q", a.Impl)
}
