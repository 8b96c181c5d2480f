package fdring_test

// The hostile child: the test binary re-executed as
//
//	FDRING_HOSTILE_CHILD=1 fdring.test -test.run=^TestHostileChildHelper$
//
// runs a fakePeer in its own process, driven line by line on stdin by the
// test (the parent). Each command is answered by one line on stdout:
// "ok [detail]" or "err <message>". The parent kills it with SIGKILL when
// a test needs the peer's process to die.
//
//	dial PATH CAP [loopback] [flip|flipall] [toggle]
//	                          be a producer: handshake with the Listener at PATH;
//	                          loopback: pass the connection itself as the wakeup
//	                          socket (and do not wait for the reply); flip/flipall: keep rewriting tail (all header
//	                          words) from before the hello on; toggle: keep clearing
//	                          O_NONBLOCK on the socketpair end it passes from before
//	                          the hello on
//	listen PATH               listen on PATH (a raw unixpacket listener)
//	accept                    be a consumer: take one Dial and do its handshake
//	write WORD VALUE          store a shared word (tail head rxState txState magic
//	                          capacity version elemSize)
//	waitword WORD VALUE MS    wait (bounded) until the word holds VALUE
//	produce K | consume K     honest steps; close: honest close; signal: one wakeup
//	flood SOCK | zeromsg SOCK | drain SOCK | shutdown SOCK rd|wr|rdwr
//	rights SOCK               send every fd it holds in flight on SOCK
//	blockdrain SOCK           a thread receives on SOCK, blocking, for ever
//	nonblock-off              clear O_NONBLOCK on every fd it holds
//	uffd-hold                 hold the shared socket's receive lock (see uffdHold)
//	stop                      stop flipping and toggling
//	die                       stop, then close every fd (the process lives on)
//	exit                      exit(0)
//
// SOCK is conn, pair0 or pair1 (see hostile_peer_linux_test.go).

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const hostileChildEnv = "FDRING_HOSTILE_CHILD"

// TestHostileChildHelper is not a test: it is the entry point of the
// hostile child process, and skips in a normal run.
func TestHostileChildHelper(t *testing.T) {
	if os.Getenv(hostileChildEnv) == "" {
		t.Skip("the hostile tests' child process; not a test by itself")
	}
	os.Exit(hostileChildMain(os.Stdin, os.Stdout))
}

// background is a goroutine the child runs against its peer (flipper,
// toggler) until stopped.
type background struct {
	stop atomic.Bool
	wg   sync.WaitGroup
}

func (b *background) run(f func(stop *atomic.Bool)) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		runtime.LockOSThread()
		f(&b.stop)
	}()
}

func (b *background) halt() {
	b.stop.Store(true)
	b.wg.Wait()
	b.stop.Store(false)
}

func sockByName(name string) (int, error) {
	for i, n := range sockNames {
		if n == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no socket %q", name)
}

func hostileChildMain(in io.Reader, out io.Writer) int {
	sc := bufio.NewScanner(in)
	var (
		p  *fakePeer
		ln *net.UnixListener
		bg background
	)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		detail, err := hostileCommand(f, &p, &ln, &bg)
		if err != nil {
			fmt.Fprintf(out, "err %s: %v\n", f[0], err)
			continue
		}
		if f[0] == "exit" {
			return 0
		}
		fmt.Fprintf(out, "ok %s\n", detail)
	}
	return 0
}

func hostileCommand(f []string, pp **fakePeer, ln **net.UnixListener, bg *background) (string, error) {
	arg := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	num := func(i int) uint64 { v, _ := strconv.ParseUint(arg(i), 0, 64); return v }
	p := *pp
	needPeer := f[0] != "dial" && f[0] != "listen" && f[0] != "accept" && f[0] != "exit"
	if needPeer && p == nil {
		return "", errors.New("no peer yet")
	}
	sock := func(i int) (int, error) { return sockByName(arg(i)) }
	switch f[0] {
	case "dial":
		if p != nil {
			bg.halt()
			p.release()
		}
		opts := strings.Join(f[3:], " ")
		np, err := newFakeProducer(int(num(2)))
		if err != nil {
			return "", err
		}
		*pp = np
		if strings.Contains(opts, "flip") {
			all := strings.Contains(opts, "flipall")
			bg.run(func(stop *atomic.Bool) { flipWords(np, all, stop) })
		}
		if strings.Contains(opts, "toggle") {
			fd := np.memfd // the one file description shared with the consumer
			bg.run(func(stop *atomic.Bool) {
				fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
				for !stop.Load() {
					unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
				}
			})
		}
		if err := np.connect(arg(1)); err != nil {
			return "", err
		}
		var extra []int
		if strings.Contains(opts, "loopback") {
			extra = append(extra, np.sock[sockConn])
		}
		if err := np.sendHello(extra...); err != nil {
			return "", err
		}
		if len(extra) > 0 {
			// The consumer's liveness watch reads this very socket now
			// (and made it non-blocking): the reply is its to take.
			return "", nil
		}
		return "", np.readReply(20 * time.Second)
	case "listen":
		l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: arg(1), Net: "unixpacket"})
		*ln = l
		return "", err
	case "accept":
		if *ln == nil {
			return "", errors.New("not listening")
		}
		if p != nil {
			bg.halt()
			p.release()
		}
		np, err := acceptFake(*ln, time.Now().Add(20*time.Second))
		if err != nil {
			return "", err
		}
		*pp = np
		return "", nil
	case "write":
		w := wordIndex(arg(1))
		if w < 0 {
			return "", fmt.Errorf("no word %q", arg(1))
		}
		p.store(w, num(2))
		return "", nil
	case "waitword":
		w := wordIndex(arg(1))
		if w < 0 {
			return "", fmt.Errorf("no word %q", arg(1))
		}
		deadline := time.Now().Add(time.Duration(num(3)) * time.Millisecond)
		for p.load(w) != num(2) {
			if time.Now().After(deadline) {
				return "", fmt.Errorf("%s is %d, not %d", arg(1), p.load(w), num(2))
			}
			runtime.Gosched()
		}
		return "", nil
	case "produce":
		return strconv.Itoa(p.produce(int(num(1)))), nil
	case "consume":
		return strconv.Itoa(p.consume(int(num(1)))), nil
	case "close":
		p.closeHonest()
		return "", nil
	case "signal":
		return "", p.signal()
	case "flood":
		s, err := sock(1)
		if err != nil {
			return "", err
		}
		return strconv.Itoa(p.flood(s, 1<<30)), nil
	case "zeromsg":
		s, err := sock(1)
		if err != nil {
			return "", err
		}
		return "", p.zeroMsg(s)
	case "drain":
		s, err := sock(1)
		if err != nil {
			return "", err
		}
		return strconv.Itoa(p.drain(s, 1<<30)), nil
	case "shutdown":
		s, err := sock(1)
		if err != nil {
			return "", err
		}
		how := map[string]int{"rd": unix.SHUT_RD, "wr": unix.SHUT_WR, "rdwr": unix.SHUT_RDWR}[arg(2)]
		return "", p.shutdownSock(s, how)
	case "rights":
		s, err := sock(1)
		if err != nil {
			return "", err
		}
		return "", p.sendRights(s, p.allFds()...)
	case "blockdrain":
		s, err := sock(1)
		if err != nil {
			return "", err
		}
		fd := p.sock[s]
		unix.SetNonblock(fd, false)
		go func() {
			runtime.LockOSThread()
			var b [64]byte
			for {
				if _, _, err := unix.Recvfrom(fd, b[:], 0); err != nil && err != unix.EINTR && err != unix.EAGAIN {
					return
				}
			}
		}()
		return "", nil
	case "nonblock-off":
		p.clearNonblock()
		return "", nil
	case "uffd-hold":
		return "", uffdHold(p)
	case "stop":
		bg.halt()
		return "", nil
	case "die":
		bg.halt()
		p.die()
		return "", nil
	case "holder":
		// Leave every fd the peer holds (the connection, the memfd) to a
		// process of its own, which outlives this one: a death hidden
		// from the connection's hang-up. The answer is the holder's pid;
		// the test kills it.
		var files []*os.File
		for _, fd := range p.allFds() {
			d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				return "", err
			}
			files = append(files, os.NewFile(uintptr(d), "held"))
		}
		cmd := exec.Command("sleep", "60")
		cmd.ExtraFiles = files
		err := cmd.Start()
		for _, f := range files {
			f.Close()
		}
		if err != nil {
			return "", err
		}
		return strconv.Itoa(cmd.Process.Pid), nil
	case "exit":
		return "", nil
	}
	return "", fmt.Errorf("unknown command")
}

// flipWords keeps rewriting tail (and with all, every header word the
// consumer validates) between valid and invalid values until stop.
func flipWords(p *fakePeer, all bool, stop *atomic.Bool) {
	tail, head := wordIndex("tail"), wordIndex("head")
	words := []int{tail}
	if all {
		words = []int{tail, wordIndex("capacity"), wordIndex("magic"), wordIndex("rxState"), wordIndex("txState"), wordIndex("version")}
	}
	orig := make([]uint64, len(hostileWords))
	for i := range hostileWords {
		orig[i] = p.load(i)
	}
	for i := uint64(0); !stop.Load(); i++ {
		for _, w := range words {
			var v uint64
			if w == tail {
				h := p.load(head)
				v = []uint64{h, h + p.capacity, h + p.capacity + 1, h - 1, ^uint64(0), 1 << 63, h + 1}[i%7]
			} else {
				v = []uint64{orig[w], orig[w] + 1, 0, 5, ^uint64(0)}[i%5]
			}
			p.store(w, v)
		}
	}
	for _, w := range words {
		p.store(w, orig[w])
	}
}

// userfaultfd(2) ABI (linux/userfaultfd.h).
const (
	uffdAPI                 = 0xaa
	uffdioAPI               = 0xc018aa3f // _IOWR(0xaa, 0x3f, struct uffdio_api)
	uffdioRegister          = 0xc020aa00 // _IOWR(0xaa, 0x00, struct uffdio_register)
	uffdRegisterModeMissing = 1
	uffdEventPagefault      = 0x12
)

// uffdKeep keeps the userfaultfd and its page for the life of the child.
var uffdKeep struct {
	fd   int
	page []byte
}

// uffdHold makes a thread of this process hold the receive lock of the
// socket it shares with the real consumer (pair1, the consumer's
// space-ready socket, whose far end the consumer's liveness watch reads):
// the thread receives into a page registered with userfaultfd, so the
// kernel's copy of the message faults while the socket's iolock is held,
// and the fault is never served. Every later recvmsg on that socket,
// MSG_DONTWAIT or not, then waits for the lock. Then it queues more
// messages, so the consumer's watch tries to read.
func uffdHold(p *fakePeer) error {
	shared, feed := p.sock[sockPair1], p.sock[sockPair0]
	if shared < 0 || feed < 0 {
		return errors.New("needs a producer's pair0 and pair1")
	}
	ufd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK, 0, 0)
	if e != 0 {
		return fmt.Errorf("userfaultfd: %w", e)
	}
	api := [3]uint64{uffdAPI, 0, 0}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, ufd, uffdioAPI, uintptr(unsafe.Pointer(&api))); e != 0 {
		return fmt.Errorf("UFFDIO_API: %w", e)
	}
	ps := os.Getpagesize()
	page, err := unix.Mmap(-1, 0, ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	reg := [4]uint64{uint64(uintptr(unsafe.Pointer(&page[0]))), uint64(ps), uffdRegisterModeMissing, 0}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, ufd, uffdioRegister, uintptr(unsafe.Pointer(&reg))); e != 0 {
		return fmt.Errorf("UFFDIO_REGISTER: %w", e)
	}
	uffdKeep.fd, uffdKeep.page = int(ufd), page
	// Blocking: the receive waits for a message without holding the lock.
	unix.SetNonblock(shared, false)
	go func() {
		runtime.LockOSThread()
		unix.Recvfrom(shared, page, 0) // faults in the kernel's copy; never served
	}()
	var msg [32]byte
	for range 500 {
		sendDontwait(feed, []byte{1})
		pfd := []unix.PollFd{{Fd: int32(ufd), Events: unix.POLLIN}}
		if n, _ := unix.Poll(pfd, 20); n <= 0 {
			continue // the consumer's watch took the message, or not yet
		}
		if n, err := unix.Read(int(ufd), msg[:]); err != nil || n != len(msg) || msg[0] != uffdEventPagefault {
			return fmt.Errorf("userfaultfd read: %d bytes, %v", n, err)
		}
		for range 8 {
			sendDontwait(feed, []byte{2})
		}
		return nil
	}
	return errors.New("the blocked receive never faulted")
}

// ---- the parent's side ----

type hostileChild struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	once  sync.Once
}

// startHostileChild starts a hostile child; it is killed at the end of
// the test.
func startHostileChild(t *testing.T) *hostileChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostileChildHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), hostileChildEnv+"=1", "FDRING_CHILD=")
	cmd.Stderr = os.Stderr
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
	c := &hostileChild{t: t, cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(c.kill)
	return c
}

// send writes one command.
func (c *hostileChild) send(cmd string) {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		c.t.Fatalf("hostile child: %s: %v", cmd, err)
	}
}

// reply returns the child's next answer line, whatever it says.
func (c *hostileChild) reply(timeout time.Duration) string {
	c.t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			c.t.Fatal("hostile child: exited")
		}
		return line
	case <-time.After(timeout):
		c.t.Fatalf("hostile child: no answer within %v", timeout)
	}
	return ""
}

// expect returns the detail of the next answer, which must be ok.
func (c *hostileChild) expect() string {
	c.t.Helper()
	line := c.reply(30 * time.Second)
	if !strings.HasPrefix(line, "ok") {
		c.t.Fatalf("hostile child: %s", line)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "ok"))
}

// do sends a command and expects ok.
func (c *hostileChild) do(cmd string) string {
	c.t.Helper()
	c.send(cmd)
	return c.expect()
}

// kill ends the child with SIGKILL (its death, as far as the ring is
// concerned) and reaps it. Idempotent.
func (c *hostileChild) kill() {
	c.once.Do(func() {
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
		c.stdin.Close()
	})
}
