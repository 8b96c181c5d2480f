package fdnet_test

import (
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/fdring/fdring/fdnet"
)

// The benchmarks run each case over fdnet and, in the same run, over the
// baselines a user would otherwise pick: net.Pipe (in-process, unbuffered)
// and a unix socketpair (what fdnet replaces across processes).
var pairs = []struct {
	name string
	make func(testing.TB) (net.Conn, net.Conn)
}{
	{"fdnet", func(tb testing.TB) (net.Conn, net.Conn) { return pipe(tb) }},
	{"fdnet-nospin", func(tb testing.TB) (net.Conn, net.Conn) { return pipe(tb, fdnet.WithSpin(0)) }},
	{"net.Pipe", func(tb testing.TB) (net.Conn, net.Conn) {
		a, b := net.Pipe()
		tb.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}},
	{"fdnet-dial", func(tb testing.TB) (net.Conn, net.Conn) {
		// Through Listen and Dial: the rings are shared memory set up for
		// another process, their wakeups travel over seqpacket sockets.
		a, b, err := dialPair(tb, listen(tb))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}},
	{"socketpair", socketpair},
}

// BenchmarkDialAccept measures setting up and closing one connection
// through a Listener: two socket connects, the memfd, two mappings on
// each side, the handshake and the peer watchers.
func BenchmarkDialAccept(b *testing.B) {
	l := listen(b)
	b.ReportAllocs()
	for b.Loop() {
		c, s, err := dialPair(b, l, fdnet.WithBufferSize(64<<10))
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
		s.Close()
	}
}

// socketpair returns the two ends of a unix stream socketpair as net.Conns.
func socketpair(tb testing.TB) (net.Conn, net.Conn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f) // dups the fd
		f.Close()
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns[0], conns[1]
}

// BenchmarkWrite64KiB streams 64 KiB Writes one way; the reader Reads into
// a 64 KiB buffer (no WriteTo, for a like-for-like comparison).
func BenchmarkWrite64KiB(b *testing.B) {
	const size = 64 << 10
	for _, p := range pairs {
		b.Run(p.name, func(b *testing.B) {
			w, r := p.make(b)
			total := int64(b.N) * size
			done := make(chan error, 1)
			go func() {
				buf := make([]byte, size)
				var got int64
				for got < total {
					n, err := r.Read(buf)
					got += int64(n)
					if err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			buf := make([]byte, size)
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := w.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkCopy64KiB is BenchmarkWrite64KiB with the reader draining
// through io.Copy to io.Discard: WriteTo from ring memory on fdnet.
func BenchmarkCopy64KiB(b *testing.B) {
	const size = 64 << 10
	for _, p := range pairs {
		b.Run(p.name, func(b *testing.B) {
			w, r := p.make(b)
			total := int64(b.N) * size
			done := make(chan error, 1)
			go func() {
				_, err := io.CopyN(io.Discard, r, total)
				done <- err
			}()
			buf := make([]byte, size)
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := w.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkPingPong64B sends 64 bytes and waits for the peer to echo them:
// one op is one round trip.
func BenchmarkPingPong64B(b *testing.B) {
	const size = 64
	for _, p := range pairs {
		b.Run(p.name, func(b *testing.B) {
			c, s := p.make(b)
			done := make(chan error, 1)
			go func() {
				buf := make([]byte, size)
				for range b.N {
					if _, err := io.ReadFull(s, buf); err != nil {
						done <- err
						return
					}
					if _, err := s.Write(buf); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			buf := make([]byte, size)
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
