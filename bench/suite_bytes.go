package main

// Suite bytes: a stream of chunks from a child process (producer) to this
// process (consumer), for each transport. Per chunk, the producer stamps its
// sequence number into a source buffer and sends it; the consumer receives
// it into a destination buffer and checks the stamp. So every
// implementation does the same per-byte work (copy in, copy out) except
// fdring-zc, which shows what the ring saves: the producer writes each chunk
// straight into ring memory (one copy from the source, as a producer that
// generates data in place writes it) and the consumer checks it in place and
// releases it (no copy out).

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/cloudwego/shmipc-go"
	"github.com/fdring/fdring"
	"golang.org/x/sys/unix"
)

// bytesRingCap is the fdring ring size: between pipe1MiB's 1 MiB and
// shmipc's 256 MiB, and a multiple of every chunk size (so a chunk never
// wraps).
const bytesRingCap = 4 << 20

type bytesArgs struct {
	Impl   string
	Chunk  int
	Chunks int64
	Path   string
	Dir    string
}

var bytesImpls = []string{"fdring", "fdring-zc", "unixsocket", "pipe", "pipe1MiB", "shmipc"}

func bytesSuite(config) suite {
	s := suite{name: "bytes", note: "bytes: producer is a child process, consumer this one; fdring ring 4 MiB; " +
		"unixsocket socketpair with default buffers; pipe 64 KiB (default), pipe1MiB F_SETPIPE_SZ 1 MiB; " +
		"sockets and pipes driven by blocking read/write syscalls; shmipc with its own benchmark settings " +
		"(256 MiB memfd, slices sized to the chunk); fdring-zc skips the consumer's copy out"}
	for _, c := range []struct {
		name  string
		chunk int
	}{{"4KiB", 4 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}} {
		bc := benchCase{name: c.name, unit: "bytes/s", kind: throughput,
			n0: 256 << 20, nMin: 16 << 20, nMax: 64 << 30}
		for _, im := range bytesImpls {
			bc.impls = append(bc.impls, impl{name: im, run: func(ctx context.Context, n int64) (sample, error) {
				return runBytes(ctx, im, c.chunk, n)
			}})
		}
		s.cases = append(s.cases, bc)
	}
	return s
}

// runBytes is one measured transfer of about n bytes.
func runBytes(ctx context.Context, im string, chunk int, n int64) (sample, error) {
	dir, cleanup, err := tempDir()
	if err != nil {
		return sample{}, err
	}
	defer cleanup()
	a := bytesArgs{Impl: im, Chunk: chunk, Chunks: max(1, n/int64(chunk)), Path: filepath.Join(dir, "s"), Dir: dir}

	var (
		files   []*os.File // the child's ends
		accept  func() error
		consume func() error
	)
	dst := make([]byte, chunk)
	switch im {
	case "fdring", "fdring-zc":
		l, err := fdring.Listen(a.Path)
		if err != nil {
			return sample{}, err
		}
		defer l.Close()
		var rx *fdring.Receiver[byte]
		accept = func() (err error) {
			rx, err = fdring.AcceptContext[byte](ctx, l)
			return err
		}
		defer func() {
			if rx != nil {
				rx.Close()
			}
		}()
		if im == "fdring" {
			consume = func() error {
				rd := fdring.NewReader(rx).WithContext(ctx)
				for i := range a.Chunks {
					if _, err := io.ReadFull(rd, dst); err != nil {
						return err
					}
					if err := checkStamp(dst, i); err != nil {
						return err
					}
				}
				return nil
			}
		} else {
			consume = func() error { return consumeInPlace(ctx, rx, chunk, a.Chunks) }
		}
	case "unixsocket":
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return sample{}, err
		}
		defer unix.Close(fds[0])
		files = []*os.File{os.NewFile(uintptr(fds[1]), "sock")}
		consume = func() error { return readChunks(fds[0], dst, a.Chunks) }
	case "pipe", "pipe1MiB":
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			return sample{}, err
		}
		defer unix.Close(p[0])
		if im == "pipe1MiB" {
			if _, err := unix.FcntlInt(uintptr(p[0]), unix.F_SETPIPE_SZ, 1<<20); err != nil {
				unix.Close(p[1])
				return sample{}, fmt.Errorf("F_SETPIPE_SZ: %w", err)
			}
		}
		files = []*os.File{os.NewFile(uintptr(p[1]), "pipe")}
		consume = func() error { return readChunks(p[0], dst, a.Chunks) }
	case "shmipc":
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: a.Path, Net: "unix"})
		if err != nil {
			return sample{}, err
		}
		defer ln.Close()
		var sess *shmipc.Session
		accept = func() error {
			conn, err := ln.Accept()
			if err != nil {
				return err
			}
			sess, err = shmipc.Server(conn, shmipcConfig(dir, chunk))
			return err
		}
		defer func() {
			if sess != nil {
				sess.Close()
			}
		}()
		consume = func() error {
			st, err := sess.AcceptStream()
			if err != nil {
				return err
			}
			defer st.Close()
			rd := st.BufferReader()
			for i := range a.Chunks {
				b, err := rd.ReadBytes(chunk)
				if err != nil {
					return err
				}
				copy(dst, b)
				rd.ReleasePreviousRead()
				if err := checkStamp(dst, i); err != nil {
					return err
				}
			}
			// shmipc has no flow control: a producer that outruns the
			// consumer exhausts the shared memory and the stream falls
			// back to the unix socket for good. Say so when it happens.
			if _, stab, _ := sess.GetMetrics(); stab.FallbackReadCount > 0 {
				fmt.Fprintf(os.Stderr, "bench: bytes %s shmipc: %d chunks fell back to the unix socket (shared memory full)\n",
					humanSize(chunk), stab.FallbackReadCount)
			}
			return nil
		}
	default:
		return sample{}, fmt.Errorf("unknown impl %q", im)
	}

	p, err := spawn(ctx, "bytes-producer", a, files...)
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		return sample{}, err
	}
	ok := false
	defer func() {
		if !ok {
			p.kill()
		}
	}()
	if accept != nil {
		if err := accept(); err != nil {
			return sample{}, fmt.Errorf("accept: %w", err)
		}
	}
	if _, err := p.expect("ready"); err != nil {
		return sample{}, err
	}
	start := time.Now()
	if err := p.send("go"); err != nil {
		return sample{}, err
	}
	if err := consume(); err != nil {
		return sample{}, err
	}
	el := time.Since(start)
	ok = true
	if err := p.finish(); err != nil {
		return sample{}, fmt.Errorf("producer: %w", err)
	}
	return sample{units: float64(a.Chunks) * float64(chunk), elapsed: el}, nil
}

func readChunks(fd int, dst []byte, chunks int64) error {
	for i := range chunks {
		if err := readFull(fd, dst); err != nil {
			return err
		}
		if err := checkStamp(dst, i); err != nil {
			return err
		}
	}
	return nil
}

// consumeInPlace is fdring-zc's consumer: it checks whole chunks in ring
// memory and releases them, with no copy out.
func consumeInPlace(ctx context.Context, rx *fdring.Receiver[byte], chunk int, chunks int64) error {
	for i := int64(0); i < chunks; {
		data, err := rx.Peek()
		if err != nil {
			return err
		}
		if len(data) < chunk {
			// A chunk is never split by the wrap (the capacity is a
			// multiple of it), so less than a chunk means "not all here
			// yet": wait for more.
			if len(data) == 0 {
				if err := rx.Wait(ctx); err != nil {
					return err
				}
			} else {
				runtime.Gosched()
			}
			continue
		}
		k := min(int64(len(data)/chunk), chunks-i)
		for j := range k {
			if err := checkStamp(data[j*int64(chunk):], i); err != nil {
				return err
			}
			i++
		}
		if err := rx.Release(int(k) * chunk); err != nil {
			return err
		}
	}
	return nil
}

// bytesProducer is the child side of the bytes suite.
func bytesProducer(ctl *childCtl) error {
	var a bytesArgs
	if err := ctl.decode(&a); err != nil {
		return err
	}
	ctx := context.Background()
	src := pattern(a.Chunk)
	var produce func() error
	switch a.Impl {
	case "fdring", "fdring-zc":
		tx, err := fdring.DialContext[byte](ctx, a.Path, bytesRingCap)
		if err != nil {
			return err
		}
		defer tx.Close()
		if a.Impl == "fdring" {
			w := fdring.NewWriter(tx).WithContext(ctx)
			produce = func() error {
				for i := range a.Chunks {
					stamp(src, i)
					if _, err := w.Write(src); err != nil {
						return err
					}
				}
				return nil
			}
		} else {
			produce = func() error { return produceInPlace(ctx, tx, src, a.Chunks) }
		}
	case "unixsocket", "pipe", "pipe1MiB":
		fd := 3
		produce = func() error {
			for i := range a.Chunks {
				stamp(src, i)
				if err := writeFull(fd, src); err != nil {
					return err
				}
			}
			return nil
		}
	case "shmipc":
		conf := shmipc.DefaultSessionManagerConfig()
		conf.Config = shmipcConfig(a.Dir, a.Chunk)
		conf.Network, conf.Address = "unix", a.Path
		sm, err := shmipc.NewSessionManager(conf)
		if err != nil {
			return err
		}
		defer sm.Close()
		st, err := sm.GetStream()
		if err != nil {
			return err
		}
		produce = func() error {
			w := st.BufferWriter()
			for i := range a.Chunks {
				stamp(src, i)
				if _, err := w.WriteBytes(src); err != nil {
					return err
				}
				if err := st.Flush(false); err != nil {
					return err
				}
			}
			return nil
		}
	default:
		return fmt.Errorf("unknown impl %q", a.Impl)
	}
	ctl.ready("")
	if err := ctl.wait("go"); err != nil {
		return err
	}
	if err := produce(); err != nil {
		return err
	}
	// Stay until the parent has read everything (it closes our stdin).
	return ctl.wait("exit")
}

// produceInPlace is fdring-zc's producer: each chunk is written straight
// into ring memory and committed, several at a time when they fit.
func produceInPlace(ctx context.Context, tx *fdring.Sender[byte], src []byte, chunks int64) error {
	chunk := len(src)
	for i := int64(0); i < chunks; {
		free, err := tx.Reserve()
		if err != nil {
			return err
		}
		if len(free) < chunk {
			if len(free) == 0 {
				if err := tx.Wait(ctx); err != nil {
					return err
				}
			} else {
				runtime.Gosched()
			}
			continue
		}
		k := min(int64(len(free)/chunk), chunks-i)
		for j := range k {
			c := free[j*int64(chunk):]
			copy(c[:chunk], src)
			stamp(c, i)
			i++
		}
		if err := tx.Commit(int(k) * chunk); err != nil {
			return err
		}
	}
	return nil
}

func humanSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
