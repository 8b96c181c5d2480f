package loop

import (
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkConnEcho: one client echoes messages of each size through a
// running loop, one round trip per op, over a ring Conn (an fdnet pipe)
// and, for comparison, over a unix stream socket Conn, with the same
// handler.
func BenchmarkConnEcho(b *testing.B) {
	for _, size := range []int{64, 4 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("ring/%dB", size), func(b *testing.B) {
			l := newLoop(b)
			r := start(b, l)
			rx, tx, peer := ringPeer(b, 256<<10)
			var err error
			r.do(func() { _, err = l.WatchRingConn(rx, tx, newBenchEcho(), nil, nil) })
			if err != nil {
				b.Fatal(err)
			}
			benchEcho(b, peer, size)
		})
		b.Run(fmt.Sprintf("socket/%dB", size), func(b *testing.B) {
			l := newLoop(b)
			r := start(b, l)
			sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err != nil {
				b.Fatal(err)
			}
			f := os.NewFile(uintptr(sp[1]), "client")
			nc, err := net.FileConn(f)
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { nc.Close() })
			r.do(func() { _, err = l.WatchConnFd(sp[0], newBenchEcho()) })
			if err != nil {
				b.Fatal(err)
			}
			benchEcho(b, nc, size)
		})
	}
}

// benchEcho writes a message and reads its echo b.N times.
func benchEcho(b *testing.B, c io.ReadWriter, size int) {
	b.ReportAllocs()
	b.SetBytes(int64(size))
	msg, got := pattern(1, size), make([]byte, size)
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
	}
}

// benchEchoHandler is a ConnHandler that writes back what it reads, and nothing
// else.
type benchEchoHandler struct{}

func newBenchEcho() benchEchoHandler                 { return benchEchoHandler{} }
func (benchEchoHandler) OnOpen(*Conn)                {}
func (benchEchoHandler) OnData(c *Conn, data []byte) { c.Write(data) }
func (benchEchoHandler) OnClose(*Conn, error)        {}
