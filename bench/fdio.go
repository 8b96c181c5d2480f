package main

// Blocking read/write on raw fds, the fastest way to drive a pipe or a
// socket (no Go poller in the way), shared by the suites.

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cloudwego/shmipc-go"
	"golang.org/x/sys/unix"
)

func readFull(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := unix.Read(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		p = p[n:]
	}
	return nil
}

func writeFull(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := unix.Write(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// Every chunk or message carries its sequence number (plus one, so fresh
// zeroed memory never matches) in its first 8 bytes; the receiver checks it.
func stamp(p []byte, seq int64) { binary.LittleEndian.PutUint64(p, uint64(seq)+1) }

func checkStamp(p []byte, seq int64) error {
	if got := binary.LittleEndian.Uint64(p); got != uint64(seq)+1 {
		return fmt.Errorf("chunk %d: stamp %d, want %d", seq, got, seq+1)
	}
	return nil
}

// pattern returns a buffer of n bytes of non-trivial content.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// tempDir makes a private directory for socket paths.
func tempDir() (string, func(), error) {
	d, err := os.MkdirTemp("", "fdbench-")
	if err != nil {
		return "", nil, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}

// shmipcConfig is the configuration shmipc-go's own benchmarks use
// (bench_test.go in its repository): a 256 MiB buffer (512 MiB for messages
// of 4 MiB and up), buffer slices sized for the expected message, a deep
// queue, memfd mapping. Its defaults (32 MiB, 8/32/128 KiB slices) are
// slower for the larger messages here, so this is the peer at its best.
// Its handshake may take 10 s instead of its default 1 s (its own
// best-practice example allows 100 s): on a loaded 2-vCPU machine mapping
// and initialising 256 MiB took longer than a second, and the run failed.
func shmipcConfig(dir string, msg int) *shmipc.Config {
	shmipc.SetLogLevel(5) // levelNoPrint: its logger writes to stdout, our control pipe
	c := shmipc.DefaultConfig()
	c.LogOutput = io.Discard
	c.QueueCap = 65535
	c.ConnectionWriteTimeout = 10 * time.Second
	c.InitializeTimeout = 10 * time.Second
	c.ShareMemoryBufferCap = 256 << 20
	if msg >= 4<<20 {
		c.ShareMemoryBufferCap = 512 << 20
	}
	c.MemMapType = shmipc.MemMapTypeMemFd
	c.BufferSliceSizes = []*shmipc.SizePercentPair{
		{Size: uint32(msg) + 256, Percent: 70},
		{Size: 16 << 10, Percent: 20},
		{Size: 64 << 10, Percent: 10},
	}
	c.ShareMemoryPathPrefix = filepath.Join(dir, "shm")
	c.QueuePath = filepath.Join(dir, "queue")
	return c
}
