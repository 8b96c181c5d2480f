package fdring_test

// A hand-made peer for attacking a real Sender or Receiver across the
// process boundary: it does the handshake itself, keeps every fd and the
// mapping it gets, and can at any point behave honestly (publish, consume,
// signal, close) or not (write any shared word, flood or drain the wakeup
// sockets, clear O_NONBLOCK on the file descriptions it shares, shut its
// sockets down, pass fds in flight, close or duplicate its fds). It is
// used in this process (FuzzHostileScript) and in a re-executed child
// (hostileChildMain, for the cross-process tests).

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/ring"
	"github.com/fdring/fdring/shm"
	"golang.org/x/sys/unix"
)

// The sockets a fakePeer holds, by index (see fakePeer.sock).
// The protocol has one socket, the connection, which carries the wakeups
// of both directions; the two socketpair slots are kept (always -1) from
// the protocol's first version, in which the producer made a socketpair
// and gave the consumer one end: every attack on them (sharing the
// consumer's receive lock, racing O_NONBLOCK on its description) is now
// impossible, and the tests that tried them say so.
const (
	sockConn   = 0 // the connection
	sockPair0  = 1 // unused (-1)
	sockPair1  = 2 // unused (-1)
	numSockets = 3
)

var sockNames = [numSockets]string{"conn", "pair0", "pair1"}

// Shared words a fakePeer can write, by index.
var hostileWords = []struct {
	name string
	off  int
	size int
}{
	{"tail", ring.OffTail, 8},
	{"head", ring.OffHead, 8},
	{"rxState", ring.OffRxState, 4},
	{"txState", ring.OffTxState, 4},
	{"magic", ring.OffMagic, 8},
	{"capacity", ring.OffCapacity, 8},
	{"version", ring.OffVersion, 4},
	{"elemSize", ring.OffElemSize, 4},
}

func wordIndex(name string) int {
	for i, w := range hostileWords {
		if w.name == name {
			return i
		}
	}
	return -1
}

// fakePeer is one hand-made end of a cross-process ring of uint64.
type fakePeer struct {
	producer bool
	region   *shm.Region
	mem      []byte // the peer's own shared mapping (kept after die)
	capacity uint64
	idx      uint64 // private index: producer tail, consumer head
	sock     [numSockets]int
	memfd    int
	extra    []int // duplicates it holds on to (see dupAll)
}

func newFakePeer(producer bool) *fakePeer {
	p := &fakePeer{producer: producer, memfd: -1}
	for i := range p.sock {
		p.sock[i] = -1
	}
	return p
}

// newFakeProducer lays out a ring of capacity elements in a sealed memfd
// and makes the socketpair for the consumer's wakeups, as Dial does.
func newFakeProducer(capacity int) (*fakePeer, error) {
	p := newFakePeer(true)
	region, err := shm.Create("hostile", ring.Size[uint64](capacity))
	if err != nil {
		return nil, err
	}
	if _, err := ring.Init[uint64](region.Bytes(), capacity); err != nil {
		region.Close()
		return nil, err
	}
	p.region, p.mem, p.capacity = region, region.Bytes(), uint64(capacity)
	p.memfd = region.Fd()
	return p, nil
}

// connect dials path with a raw socket (a listener's backlog takes it at
// once; no blocking).
func (p *fakePeer) connect(path string) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return err
	}
	p.sock[sockConn] = fd
	return nil
}

// sendHello sends the hello with the memfd, and any extra fds (which the
// protocol does not allow: Accept must refuse them).
func (p *fakePeer) sendHello(extra ...int) error {
	fds := append([]int{p.memfd}, extra...)
	return unix.Sendmsg(p.sock[sockConn], fdring.EncodeHello[uint64](int(p.capacity)), unix.UnixRights(fds...), nil, 0)
}

// readReply waits (bounded) for the consumer's 16-byte reply.
func (p *fakePeer) readReply(timeout time.Duration) error {
	fd := p.sock[sockConn]
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	var b [32]byte
	n, err := retryEINTR(func() (int, error) { n, _, err := unix.Recvfrom(fd, b[:], 0); return n, err })
	if err != nil {
		return fmt.Errorf("reply: %w", err)
	}
	if n != 16 || binary.NativeEndian.Uint32(b[:]) != 0x41524446 || binary.NativeEndian.Uint32(b[4:]) != 0 {
		return fmt.Errorf("reply %x", b[:n])
	}
	var zero unix.Timeval
	return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &zero)
}

// dialFake is the whole producer handshake against a real Listener at
// path; run it concurrently with AcceptContext.
func dialFake(path string, capacity int) (*fakePeer, error) {
	p, err := newFakeProducer(capacity)
	if err != nil {
		return nil, err
	}
	if err := p.connect(path); err != nil {
		p.release()
		return nil, err
	}
	if err := p.sendHello(); err != nil {
		p.release()
		return nil, err
	}
	if err := p.readReply(10 * time.Second); err != nil {
		p.release()
		return nil, err
	}
	return p, nil
}

// acceptFake is the whole consumer handshake for a real Dial to ln: it
// receives the hello and the fds with shm.RecvFds, maps the memfd and
// replies OK (publishing with sequentially consistent stores: no flag).
func acceptFake(ln *net.UnixListener, deadline time.Time) (*fakePeer, error) {
	ln.SetDeadline(deadline)
	c, err := ln.AcceptUnix()
	if err != nil {
		return nil, err
	}
	defer c.Close() // the peer keeps a duplicate
	c.SetDeadline(deadline)
	buf := make([]byte, 64)
	n, fds, err := shm.RecvFds(c, buf, 1)
	if err != nil {
		return nil, err
	}
	p := newFakePeer(false)
	if len(fds) != 1 || n != 48 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("hello of %d bytes with %d fds", n, len(fds))
	}
	p.memfd = fds[0]
	capacity := binary.NativeEndian.Uint64(buf[16:])
	memSize := binary.NativeEndian.Uint64(buf[32:])
	region, err := shm.Map(p.memfd, int(memSize))
	if err != nil {
		p.release()
		return nil, err
	}
	p.region, p.mem, p.capacity = region, region.Bytes(), capacity
	rc, err := c.SyscallConn()
	if err != nil {
		p.release()
		return nil, err
	}
	var derr error
	rc.Control(func(fd uintptr) { p.sock[sockConn], derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) })
	if derr != nil {
		p.release()
		return nil, derr
	}
	rep := make([]byte, 16)
	binary.NativeEndian.PutUint32(rep, 0x41524446)
	if _, err := c.Write(rep); err != nil {
		p.release()
		return nil, err
	}
	// The peer's read head starts where the ring says (Init: 0).
	p.idx = p.load(wordIndex("head"))
	return p, nil
}

func retryEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != unix.EINTR {
			return n, err
		}
	}
}

// ---- shared memory ----

func (p *fakePeer) load(w int) uint64 {
	word := hostileWords[w]
	ptr := unsafe.Pointer(&p.mem[word.off])
	if word.size == 4 {
		return uint64(atomic.LoadUint32((*uint32)(ptr)))
	}
	return atomic.LoadUint64((*uint64)(ptr))
}

func (p *fakePeer) store(w int, v uint64) {
	word := hostileWords[w]
	ptr := unsafe.Pointer(&p.mem[word.off])
	if word.size == 4 {
		atomic.StoreUint32((*uint32)(ptr), uint32(v))
		return
	}
	atomic.StoreUint64((*uint64)(ptr), v)
}

func (p *fakePeer) state(off int) *uint32 { return (*uint32)(unsafe.Pointer(&p.mem[off])) }

// ---- honest behaviour ----

// produce (fake producer) publishes up to k sequenced elements, as much as
// the consumer's head leaves room for, and wakes the consumer if it
// declared it sleeps.
func (p *fakePeer) produce(k int) int {
	head := p.load(wordIndex("head"))
	used := p.idx - head
	if used > p.capacity {
		return 0
	}
	k = min(k, int(p.capacity-used))
	mask := p.capacity - 1
	for i := range uint64(k) {
		binary.NativeEndian.PutUint64(p.mem[ring.HeaderSize+int((p.idx+i)&mask)*8:], seq(p.idx+i))
	}
	p.idx += uint64(k)
	p.store(wordIndex("tail"), p.idx)
	if k > 0 && atomic.CompareAndSwapUint32(p.state(ring.OffRxState), 1, 0) {
		p.signal()
	}
	return k
}

// consume (fake consumer) frees up to k published elements and wakes the
// producer if it declared it sleeps.
func (p *fakePeer) consume(k int) int {
	tail := p.load(wordIndex("tail"))
	avail := tail - p.idx
	if avail > p.capacity {
		return 0
	}
	k = min(k, int(avail))
	p.idx += uint64(k)
	p.store(wordIndex("head"), p.idx)
	if k > 0 && atomic.CompareAndSwapUint32(p.state(ring.OffTxState), 1, 0) {
		p.signal()
	}
	return k
}

// closeHonest closes the fake side as the library would.
func (p *fakePeer) closeHonest() {
	own, other := ring.OffTxState, ring.OffRxState
	if !p.producer {
		own, other = other, own
	}
	atomic.StoreUint32(p.state(own), 2)
	if atomic.CompareAndSwapUint32(p.state(other), 1, 0) {
		p.signal()
	}
}

// sigSock is the socket the fake peer signals on: the connection, in both
// directions.
func (p *fakePeer) sigSock() int { return p.sock[sockConn] }

// signal sends one wakeup byte, never blocking.
func (p *fakePeer) signal() error { return sendDontwait(p.sigSock(), []byte{1}) }

func sendDontwait(fd int, b []byte) error {
	if fd < 0 {
		return unix.EBADF
	}
	_, err := retryEINTR(func() (int, error) { return 0, unix.Sendto(fd, b, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, nil) })
	return err
}

// ---- hostile behaviour ----

// flood sends up to max one-byte messages on socket s, after raising its
// send buffer as far as the system lets it, until the queue is full. It
// returns how many it sent.
func (p *fakePeer) flood(s, max int) int {
	fd := p.sock[s]
	if fd < 0 {
		return 0
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
	n := 0
	for n < max && sendDontwait(fd, []byte{0xff}) == nil {
		n++
	}
	return n
}

// zeroMsg sends a zero-length message on socket s (a seqpacket socket
// delivers it as a read of 0 bytes: what end of file looks like).
func (p *fakePeer) zeroMsg(s int) error { return sendDontwait(p.sock[s], nil) }

// drain reads up to max pending messages from socket s without waiting.
func (p *fakePeer) drain(s, max int) int {
	fd := p.sock[s]
	if fd < 0 {
		return 0
	}
	var b [64]byte
	n := 0
	for n < max {
		if _, err := retryEINTR(func() (int, error) { n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_DONTWAIT); return n, err }); err != nil {
			break
		}
		n++
	}
	return n
}

// allFds is every fd the peer holds.
func (p *fakePeer) allFds() []int {
	var fds []int
	for _, fd := range p.sock {
		if fd >= 0 {
			fds = append(fds, fd)
		}
	}
	if p.memfd >= 0 {
		fds = append(fds, p.memfd)
	}
	return append(fds, p.extra...)
}

// clearNonblock clears O_NONBLOCK on every file description the peer
// holds: the ones it shares with the real side become blocking there too.
func (p *fakePeer) clearNonblock() {
	for _, fd := range p.allFds() {
		unix.SetNonblock(fd, false)
	}
}

// shutdownSock shuts socket s down (how: unix.SHUT_RD, SHUT_WR, SHUT_RDWR)
// while the peer stays alive.
func (p *fakePeer) shutdownSock(s, how int) error {
	if p.sock[s] < 0 {
		return unix.EBADF
	}
	return unix.Shutdown(p.sock[s], how)
}

// sendRights sends one byte on socket s carrying fds (SCM_RIGHTS): with
// s's own fd among them, the socket stays referenced by a message in
// flight after the peer closed it.
func (p *fakePeer) sendRights(s int, fds ...int) error {
	if p.sock[s] < 0 || len(fds) == 0 {
		return unix.EBADF
	}
	return unix.Sendmsg(p.sock[s], []byte{1}, unix.UnixRights(fds...), nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
}

// dupAll duplicates every fd the peer holds and keeps the duplicates
// (bounded): closing the originals then is no death.
func (p *fakePeer) dupAll() {
	if len(p.extra) > 16 {
		return
	}
	for _, fd := range p.allFds() {
		if d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0); err == nil {
			p.extra = append(p.extra, d)
		}
	}
}

// die closes every fd the peer holds, as its process's death would (the
// mapping stays, so it can still scribble: a "zombie" writer). The fields
// are reset so no later operation touches an fd number the process may
// reuse.
func (p *fakePeer) die() {
	for i, fd := range p.sock {
		if fd >= 0 {
			unix.Close(fd)
			p.sock[i] = -1
		}
	}
	if p.region != nil {
		p.region.CloseFd()
	} else if p.memfd >= 0 {
		unix.Close(p.memfd)
	}
	p.memfd = -1
	for _, fd := range p.extra {
		unix.Close(fd)
	}
	p.extra = nil
}

// release closes everything and unmaps.
func (p *fakePeer) release() {
	p.die()
	if p.region != nil {
		p.region.Close()
		p.region = nil
	}
	p.mem = nil
}
