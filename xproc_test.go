//go:build linux

package fdring_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/ring"
	"github.com/fdring/fdring/shm"
	"golang.org/x/sys/unix"
)

// Child processes: the test binary re-executed with FDRING_CHILD set runs
// one of these instead of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("FDRING_CHILD"); mode != "" {
		os.Exit(runChild(mode, os.Getenv("FDRING_PATH"), os.Getenv("FDRING_N")))
	}
	os.Exit(m.Run())
}

func runChild(mode, path, nstr string) int {
	n, _ := strconv.ParseUint(nstr, 10, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	switch mode {
	case "produce", "produce-then-wait", "produce-forever":
		capacity := 1024
		if mode == "produce-then-wait" {
			capacity = 1 << 17 // room for all n: it commits without a reader
		}
		var opts []fdring.Option
		if os.Getenv("FDRING_ANY_PEER") != "" {
			opts = append(opts, fdring.WithAnyPeerUID())
		}
		tx, err := fdring.DialContext[uint64](ctx, path, capacity, opts...)
		if errors.Is(err, fdring.ErrNotAllowed) {
			fmt.Fprintln(os.Stderr, "dial:", err)
			return 6
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			return 2
		}
		next := uint64(0)
		for mode == "produce-forever" || next < n {
			_, err := tx.SendWait(ctx, func(f []uint64) int {
				k := len(f)
				if mode != "produce-forever" {
					k = min(k, int(n-next))
				}
				for i := range k {
					f[i] = seq(next)
					next++
				}
				return k
			})
			if err != nil {
				fmt.Fprintln(os.Stderr, "send:", err)
				return 3
			}
		}
		if mode == "produce-then-wait" {
			// Everything is committed: tell the parent, then wait to be
			// killed without closing.
			fmt.Println("committed", next)
			<-ctx.Done()
			return 4
		}
		if err := tx.Close(); err != nil {
			return 5
		}
		return 0
	case "hostile":
		return hostileProducer(ctx, path)
	case "soak":
		return soakProducer(path, n)
	case "wrong-type":
		type other struct{ A, B uint32 }
		_, err := fdring.DialContext[other](ctx, path, 64)
		if errors.Is(err, fdring.ErrTypeMismatch) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "dial with a wrong type:", err)
		return 6
	case "consume-then-die":
		l, err := fdring.Listen(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "listen:", err)
			return 2
		}
		fmt.Println("listening")
		rx, err := fdring.AcceptContext[uint64](ctx, l)
		if err != nil {
			fmt.Fprintln(os.Stderr, "accept:", err)
			return 3
		}
		got := uint64(0)
		for got < n {
			rx.RecvWait(ctx, func(d []uint64) int { got += uint64(len(d)); return len(d) })
		}
		os.Exit(0) // no Close: the producer must learn from the socket
	}
	return 100
}

// child starts the test binary in a child mode.
func child(t *testing.T, mode, path string, n uint64) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FDRING_CHILD="+mode, "FDRING_PATH="+path, "FDRING_N="+strconv.FormatUint(n, 10))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewReader(out)
}

func sockPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "fdring.sock")
}

func listen(t *testing.T) *fdring.Listener {
	t.Helper()
	l, err := fdring.Listen(sockPath(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func accept(t *testing.T, l *fdring.Listener) *fdring.Receiver[uint64] {
	t.Helper()
	rx, err := fdring.AcceptContext[uint64](testCtx(t), l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	return rx
}

// drain receives sequenced items until an error and returns how many and
// the error.
func drain(t *testing.T, rx *fdring.Receiver[uint64]) (uint64, error) {
	t.Helper()
	ctx := testCtx(t)
	got := uint64(0)
	for {
		_, err := rx.RecvWait(ctx, func(d []uint64) int {
			for _, v := range d {
				if v != seq(got) {
					t.Fatalf("item %d = %#x, want %#x", got, v, seq(got))
				}
				got++
			}
			return len(d)
		})
		if err != nil {
			return got, err
		}
	}
}

func TestCrossProcessStream(t *testing.T) {
	l := listen(t)
	const n = 300_000
	cmd, _ := child(t, "produce", l.Path(), n)
	rx := accept(t, l)
	got, err := drain(t, rx)
	if err != io.EOF || got != n {
		t.Fatalf("received %d, %v; want %d, io.EOF", got, err, n)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("producer: %v", err)
	}
}

func TestCrossProcessProducerKilled(t *testing.T) {
	l := listen(t)
	const n = 100_000
	cmd, out := child(t, "produce-then-wait", l.Path(), n)
	rx := accept(t, l)
	line, err := out.ReadString('\n')
	if err != nil || line != fmt.Sprintf("committed %d\n", n) {
		t.Fatalf("child said %q, %v", line, err)
	}
	// Everything is committed, most of it unread: kill the producer.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	got, err := drain(t, rx)
	if !errors.Is(err, fdring.ErrPeerGone) {
		t.Fatalf("after the producer's death: %v", err)
	}
	if got != n {
		t.Fatalf("received %d of %d committed elements before ErrPeerGone", got, n)
	}
}

func TestCrossProcessProducerKilledMidStream(t *testing.T) {
	l := listen(t)
	cmd, _ := child(t, "produce-forever", l.Path(), 0)
	rx := accept(t, l)
	ctx := testCtx(t)
	got := uint64(0)
	killed := false
	var err error
	for err == nil {
		_, err = rx.RecvWait(ctx, func(d []uint64) int {
			for _, v := range d {
				if v != seq(got) {
					t.Fatalf("item %d = %#x", got, v)
				}
				got++
			}
			return len(d)
		})
		if !killed && got >= 200_000 {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	if !errors.Is(err, fdring.ErrPeerGone) {
		t.Fatalf("got %d then %v, want ErrPeerGone", got, err)
	}
}

func TestCrossProcessConsumerDies(t *testing.T) {
	path := sockPath(t)
	const n = 50_000
	_, out := child(t, "consume-then-die", path, n)
	if line, err := out.ReadString('\n'); err != nil || line != "listening\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	tx, err := fdring.DialContext[uint64](testCtx(t), path, 256)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	ctx := testCtx(t)
	sent := uint64(0)
	for {
		_, err = tx.SendWait(ctx, func(f []uint64) int { sent += uint64(len(f)); return len(f) })
		if err != nil {
			break
		}
	}
	if !errors.Is(err, fdring.ErrPeerGone) {
		t.Fatalf("after sending %d: %v, want ErrPeerGone", sent, err)
	}
	if sent < n {
		t.Fatalf("sent only %d", sent)
	}
}

func TestCrossProcessTypeMismatch(t *testing.T) {
	l := listen(t)
	cmd, _ := child(t, "wrong-type", l.Path(), 0)
	_, err := fdring.AcceptContext[uint64](testCtx(t), l)
	if !errors.Is(err, fdring.ErrTypeMismatch) {
		t.Fatalf("Accept = %v, want ErrTypeMismatch", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the producer did not see ErrTypeMismatch: %v", err)
	}
}

func TestListenSocketFile(t *testing.T) {
	path := sockPath(t)
	old := syscall.Umask(0)
	l, err := fdring.Listen(path)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket file mode %v", fi.Mode())
	}
	if _, err := fdring.Listen(path); err == nil {
		t.Fatal("second Listen on a live socket succeeded")
	}
	l.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// A stale socket file (its listener gone without cleanup) is replaced.
	fd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	l2, err := fdring.Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l2.Close()
	// A regular file is never removed.
	os.WriteFile(path, []byte("x"), 0o600)
	if _, err := fdring.Listen(path); err == nil {
		t.Fatal("Listen replaced a regular file")
	}
}

func TestAcceptContext(t *testing.T) {
	l := listen(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := fdring.AcceptContext[uint64](ctx, l); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Accept with deadline: %v", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := fdring.AcceptContext[uint64](ctx2, l)
		errc <- err
	}()
	cancel2()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Accept: %v", err)
	}
	// The listener still works.
	go func() {
		tx, err := fdring.Dial[uint64](l.Path(), 16)
		if err == nil {
			tx.Close()
		}
	}()
	rx := accept(t, l)
	if _, err := drain(t, rx); err != io.EOF {
		t.Fatalf("after accept: %v", err)
	}
	l.Close()
	if _, err := fdring.Accept[uint64](l); !errors.Is(err, fdring.ErrClosed) {
		t.Fatalf("Accept on a closed listener: %v", err)
	}
}

// rawPeer connects to l as a hostile producer would.
func rawPeer(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestAcceptRejectsBadHandshakes(t *testing.T) {
	l := listen(t)
	good := fdring.EncodeHello[uint64](64)
	memfd := func(size int, seal bool) int {
		flags := unix.MFD_CLOEXEC
		if seal {
			flags |= unix.MFD_ALLOW_SEALING
		}
		fd, err := unix.MemfdCreate("test", flags)
		if err != nil {
			t.Fatal(err)
		}
		unix.Ftruncate(fd, int64(size))
		if seal {
			unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL)
		}
		return fd
	}
	// The far ends of the wakeup sockets sent: kept open until the
	// Accept of each case returned (a connected socket is checked).
	var farEnds []int
	pair := func(typ int) int {
		p, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		farEnds = append(farEnds, p[1])
		return p[0]
	}
	sock := func() int { return pair(unix.SOCK_SEQPACKET) }
	size := ring.Size[uint64](64)
	initRing := func(fd int) {
		m, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		ring.Init[uint64](m, 64)
		unix.Munmap(m)
	}
	pipeFd := func() int {
		var p [2]int
		unix.Pipe2(p[:], unix.O_CLOEXEC)
		unix.Close(p[1])
		return p[0]
	}
	mutated := func(off int, v byte) []byte {
		b := append([]byte(nil), good...)
		b[off] ^= v
		return b
	}
	cases := []struct {
		name    string
		payload []byte
		fds     func() []int
		want    error
	}{
		{"nothing", nil, nil, fdring.ErrHandshake},
		{"truncated", good[:20], func() []int { return []int{memfd(size, true)} }, fdring.ErrHandshake},
		{"too long", append(append([]byte(nil), good...), 0), func() []int { return []int{memfd(size, true)} }, fdring.ErrHandshake},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n01234567890123456789x"), nil, fdring.ErrHandshake},
		{"bad magic", mutated(0, 1), func() []int { return []int{memfd(size, true)} }, fdring.ErrHandshake},
		{"bad version", mutated(4, 7), func() []int { return []int{memfd(size, true)} }, fdring.ErrHandshake},
		{"no fds", good, nil, fdring.ErrHandshake},
		{"two fds", good, func() []int { return []int{memfd(size, true), sock()} }, fdring.ErrHandshake},
		{"elem size", mutated(8, 4), func() []int { return []int{memfd(size, true)} }, fdring.ErrTypeMismatch},
		{"fingerprint", mutated(24, 1), func() []int { return []int{memfd(size, true)} }, fdring.ErrTypeMismatch},
		{"capacity", mutated(16, 3), func() []int { return []int{memfd(size, true)} }, fdring.ErrHandshake},
		{"unsealed memfd", good, func() []int {
			fd := memfd(size, false)
			initRing(fd)
			return []int{fd}
		}, fdring.ErrHandshake},
		{"short memfd", good, func() []int { return []int{memfd(size-8, true)} }, fdring.ErrHandshake},
		{"pipe for memory", good, func() []int { return []int{pipeFd()} }, fdring.ErrHandshake},
		{"uninitialised ring", good, func() []int { return []int{memfd(size, true)} }, ring.ErrBadMagic},
	}
	before := fdCount(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := rawPeer(t, l.Path())
			if c.payload != nil {
				var fds []int
				if c.fds != nil {
					fds = c.fds()
				}
				var oob []byte
				if len(fds) > 0 {
					oob = unix.UnixRights(fds...)
				}
				if _, _, err := conn.WriteMsgUnix(c.payload, oob, nil); err != nil {
					t.Fatal(err)
				}
				for _, fd := range fds {
					unix.Close(fd)
				}
			} else {
				conn.Close()
			}
			_, err := fdring.AcceptContext[uint64](testCtx(t), l)
			for _, fd := range farEnds {
				unix.Close(fd)
			}
			farEnds = nil
			if !errors.Is(err, c.want) {
				t.Fatalf("Accept = %v, want %v", err, c.want)
			}
			conn.Close()
		})
	}
	if after := fdCount(t); after != before {
		t.Fatalf("fds: %d before, %d after the rejected handshakes", before, after)
	}
}

func TestDialErrors(t *testing.T) {
	if _, err := fdring.Dial[uint64](filepath.Join(t.TempDir(), "nobody"), 64); err == nil {
		t.Fatal("Dial to nothing succeeded")
	}
	if _, err := fdring.Dial[string]("x", 64); !errors.Is(err, fdring.ErrBadType) {
		t.Fatalf("Dial[string] = %v", err)
	}
	if _, err := fdring.Dial[uint64]("x", 63); !errors.Is(err, ring.ErrCapacity) {
		t.Fatalf("Dial cap 63 = %v", err)
	}
	// A consumer that hangs up during the handshake.
	path := sockPath(t)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
	}()
	if _, err := fdring.DialContext[uint64](testCtx(t), path, 64); !errors.Is(err, fdring.ErrHandshake) {
		t.Fatalf("Dial to a consumer that hangs up: %v", err)
	}
}

func TestCrossProcessNoFdLeak(t *testing.T) {
	l := listen(t)
	// Warm up: the runtime's poller and the first connection allocate fds
	// that stay.
	cycle := func() {
		errc := make(chan error, 1)
		go func() {
			tx, err := fdring.Dial[uint64](l.Path(), 64)
			if err == nil {
				tx.Send(func(f []uint64) int { f[0] = seq(0); return 1 })
				err = tx.Close()
			}
			errc <- err
		}()
		rx, err := fdring.AcceptContext[uint64](testCtx(t), l)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := drain(t, rx); got != 1 || err != io.EOF {
			t.Fatalf("drained %d, %v", got, err)
		}
		if err := rx.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	cycle()
	before := fdCount(t)
	cycles := 1000
	if raceEnabled {
		cycles = 300
	}
	for range cycles {
		cycle()
	}
	if after := fdCount(t); after != before {
		t.Fatalf("fds: %d before, %d after %d Dial/Accept/Close cycles", before, after, cycles)
	}
}

// TestAcceptChecksPeerUID: a producer running as another user is refused
// (SO_PEERCRED), unless the Listener allows its uid. Needs root to start a
// child as uid 65534.
func TestAcceptChecksPeerUID(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a child as another user")
	}
	const nobody = 65534
	// The child must be able to execute the test binary and reach the
	// socket: copy the binary to a world-readable place, open the socket.
	dir, err := os.MkdirTemp("", "fdring-uid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "fdring.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "uid.sock")
	l, err := fdring.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Chmod(path, 0o666)

	start := func(anyPeer bool) *exec.Cmd {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		t.Cleanup(cancel)
		cmd := exec.CommandContext(ctx, bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), "FDRING_CHILD=produce", "FDRING_PATH="+path, "FDRING_N=1000")
		if anyPeer {
			cmd.Env = append(cmd.Env, "FDRING_ANY_PEER=1")
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	// The dialer checks the listener too: by default a producer of
	// another user refuses to hand its ring to us (exit code 6:
	// ErrNotAllowed), before it sends anything.
	cmd := start(false)
	if _, err := fdring.AcceptContext[uint64](testCtx(t), l); !errors.Is(err, fdring.ErrNotAllowed) {
		t.Fatalf("Accept of uid %d = %v, want ErrNotAllowed", nobody, err)
	}
	var exit *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &exit) || exit.ExitCode() != 6 {
		t.Fatalf("producer of uid %d dialing a listener of uid %d: %v, want exit 6 (ErrNotAllowed)", nobody, os.Geteuid(), err)
	}

	// A producer that allows any listener is refused by ours.
	cmd = start(true)
	if _, err := fdring.AcceptContext[uint64](testCtx(t), l); !errors.Is(err, fdring.ErrNotAllowed) {
		t.Fatalf("Accept of uid %d = %v, want ErrNotAllowed", nobody, err)
	}
	if err := cmd.Wait(); !errors.As(err, &exit) || exit.ExitCode() == 6 {
		t.Fatalf("the refused producer: %v, want a failed handshake (not exit 6)", err)
	}

	l.AllowUIDs(nobody)
	start(true)
	rx := accept(t, l)
	if got, err := drain(t, rx); got != 1000 || err != io.EOF {
		t.Fatalf("allowed producer: %d items, %v", got, err)
	}
}

// hostileProducer does the handshake by hand, then keeps rewriting every
// word of the shared header (and publishing garbage) for a while, as a
// malicious process sharing the ring could.
func hostileProducer(ctx context.Context, path string) int {
	const capacity = 64
	size := ring.Size[uint64](capacity)
	region, err := shm.Create("hostile", size)
	if err != nil {
		return 2
	}
	if _, err := ring.Init[uint64](region.Bytes(), capacity); err != nil {
		return 2
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unixpacket", path)
	if err != nil {
		return 3
	}
	conn := c.(*net.UnixConn)
	if err := shm.SendFds(conn, fdring.EncodeHello[uint64](capacity), region.Fd()); err != nil {
		return 4
	}
	reply := make([]byte, 16)
	if _, err := conn.Read(reply); err != nil {
		return 5
	}
	// The memfd is the one file description we share: make it blocking,
	// as a hostile peer could. The consumer must not care.
	unix.SetNonblock(region.Fd(), false)
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	m := region.Bytes()
	words := []int{ring.OffMagic, ring.OffVersion, ring.OffCapacity, ring.OffTail, ring.OffHead,
		ring.OffRxState, ring.OffTxState, ring.OffElemSize}
	rng := rand.New(rand.NewPCG(9, 9))
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	for start := time.Now(); time.Since(start) < time.Second; {
		off := words[rng.IntN(len(words))]
		var v uint64
		switch rng.IntN(4) {
		case 0:
			v = rng.Uint64()
		case 1:
			v = uint64(rng.IntN(4))
		case 2:
			v = binary.NativeEndian.Uint64(m[ring.OffHead:]) + uint64(rng.IntN(2*capacity))
		default:
			v = ^uint64(0) - uint64(rng.IntN(3))
		}
		if off == ring.OffRxState || off == ring.OffTxState || off == ring.OffVersion || off == ring.OffElemSize {
			binary.NativeEndian.PutUint32(m[off:], uint32(v))
		} else {
			binary.NativeEndian.PutUint64(m[off:], v)
		}
		for i := ring.HeaderSize; i < len(m); i += 8 {
			m[i] = byte(rng.Uint32())
		}
		// Wake the consumer through the connection (its data-ready
		// socket), as an honest producer would.
		conn.Write(one[:1])
	}
	return 0
}

// TestHostileProducer: a producer process that rewrites the shared header
// at random while the consumer reads. The consumer may see garbage data
// (a hostile peer can always send wrong data), but it must never panic or
// touch memory outside the mapping, and it must end with ErrCorrupt or,
// once the producer is gone, ErrPeerGone.
func TestHostileProducer(t *testing.T) {
	l := listen(t)
	cmd, _ := child(t, "hostile", l.Path(), 0)
	rx := accept(t, l)
	ctx := testCtx(t)
	var items uint64
	var err error
	for err == nil {
		_, err = rx.RecvWait(ctx, func(d []uint64) int {
			if len(d) > 64 {
				t.Fatalf("read got %d elements from a ring of 64", len(d))
			}
			items += uint64(len(d))
			return len(d)
		})
	}
	if !errors.Is(err, fdring.ErrCorrupt) && !errors.Is(err, fdring.ErrPeerGone) {
		t.Fatalf("after %d items: %v, want ErrCorrupt or ErrPeerGone", items, err)
	}
	t.Logf("consumer took %d items, then: %v", items, err)
	if err := rx.Close(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}
