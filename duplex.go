package fdring

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/fdring/fdring/ring"
	"github.com/fdring/fdring/shm"
	"golang.org/x/sys/unix"
)

// Duplex channels: two rings, one each way, between two processes.
//
// Both rings live in ONE sealed memfd that the dialer creates:
//
//	offset 0        ring A: dialer -> listener (size ring.Size[T](capacity))
//	offset stride   ring B: listener -> dialer (the same capacity)
//	memfd size      2 * stride, stride = ring A's size rounded up to 128
//
// The layout follows from the capacity alone, so the hello carries no more
// than a one-way hello; the listener recomputes it and refuses anything
// else. Each process maps the memfd twice, once per ring: a side that is
// closed retires its own mapping (see side) without touching the other
// direction's.
//
// Wakeups. In one process the Sender of one ring and the Receiver of the
// other may both be asleep at once (a Read and a Write in two goroutines),
// so they cannot share one socket: one would drain the other's wakeup. A
// duplex channel therefore uses two SOCK_SEQPACKET connections, one per
// ring, each an ordinary channel endpoint (remoteSide): the first carries
// ring A's wakeups, the second ring B's.
//
//	dialer                                  listener
//	connect #1, check the listener's uid
//	hello (flagDuplex) + memfd        ->    check uid, hello, seals, size,
//	                                        map twice, open both rings
//	                                  <-    duplex reply: OK + 16-byte token
//	connect #2, check uid and that the
//	listener is the same process
//	join (token, no fd)               ->    take the token (single-use),
//	                                        check the same pid and uid as #1
//	                                  <-    reply OK
//
//	join (32 bytes)                     duplex reply (32 bytes)
//	 0  4  magic "FDRJ"                  0 16  a reply (status replyOK)
//	 4  2  protocol version (2)         16 16  token
//	 6  2  flags (0)
//	 8  8  reserved (0)
//	16 16  token
//
// A third process cannot complete someone else's connection: the token is
// 128 random bits sent only over connection #1, and the second half must
// come from the process (SO_PEERCRED pid and uid) that sent the first. A
// half that never gets its second half is closed HandshakeTimeout after
// the reply; at most maxHalfOpen wait at a time, and a new half that
// finds the table full closes the one that has waited longest.
//
// On the listener, reading a connection's first message (the only step a
// slow or hostile dialer controls) runs on a goroutine per connection
// (at most maxHandshakes at once, each bounded by HandshakeTimeout; a new
// connection that finds them all taken ends the read that has waited
// longest), never on the AcceptDuplex caller's path: silent dialers, even
// more of them than there are readers, cannot hold up the others.
const (
	joinSize        = 32
	joinMagic       = 0x4a524446 // "FDRJ"
	duplexReplySize = replySize + tokenSize
	tokenSize       = 16
	duplexAlign     = 128
	maxHandshakes   = 64 // first messages awaited at once
	maxHalfOpen     = 64 // duplex connections waiting for their second half
)

type token [tokenSize]byte

// join is the second half's only message.
type join struct {
	version uint16
	flags   uint16
	token   token
}

func (j join) encode() []byte {
	b := make([]byte, joinSize)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], joinMagic)
	ne.PutUint16(b[4:], j.version)
	ne.PutUint16(b[6:], j.flags)
	copy(b[16:], j.token[:])
	return b
}

// decodeJoin parses a join message: length, magic, version, flags and
// reserved bytes.
func decodeJoin(b []byte) (join, error) {
	if len(b) != joinSize {
		return join{}, fmt.Errorf("%w: join of %d bytes, want %d", ErrHandshake, len(b), joinSize)
	}
	ne := binary.NativeEndian
	if m := ne.Uint32(b[0:]); m != joinMagic {
		return join{}, fmt.Errorf("%w: join magic %#x", ErrHandshake, m)
	}
	j := join{version: ne.Uint16(b[4:]), flags: ne.Uint16(b[6:])}
	if j.version != protoVersion {
		return join{}, fmt.Errorf("%w: protocol version %d, this side speaks %d", ErrHandshake, j.version, protoVersion)
	}
	if j.flags != 0 || ne.Uint64(b[8:]) != 0 {
		return join{}, fmt.Errorf("%w: unknown join flags", ErrHandshake)
	}
	copy(j.token[:], b[16:])
	return j, nil
}

func encodeDuplexReply(r reply, tok token) []byte {
	return append(r.encode(), tok[:]...)
}

// decodeDuplexReply parses the listener's answer to a duplex hello: a
// refusal (a plain reply) becomes its error, an acceptance must carry a
// token.
func decodeDuplexReply(b []byte) (reply, token, error) {
	if len(b) != replySize && len(b) != duplexReplySize {
		return reply{}, token{}, fmt.Errorf("%w: malformed reply", ErrHandshake)
	}
	r, err := decodeReply(b[:replySize])
	if err != nil {
		return reply{}, token{}, err
	}
	if len(b) != duplexReplySize {
		return reply{}, token{}, fmt.Errorf("%w: the listener accepted without a token (not a duplex listener)", ErrHandshake)
	}
	var tok token
	copy(tok[:], b[replySize:])
	return r, tok, nil
}

// duplexLayout returns the size of one ring of capacity elements of T, the
// offset of the second ring and the memfd's size. ok is false for an
// invalid capacity or type, or a total beyond shm.MaxSize.
func duplexLayout[T any](capacity int) (size, stride, total int, ok bool) {
	size = ring.Size[T](capacity)
	if size == 0 || int64(size) > shm.MaxSize/2 {
		return size, 0, 0, false
	}
	stride = (size + duplexAlign - 1) &^ (duplexAlign - 1)
	return size, stride, 2 * stride, true
}

// DialDuplex connects to the listener at path (see AcceptDuplex) and
// returns this process's two sides of a new duplex channel: a Sender into
// the ring towards the listener and a Receiver of the ring back, both of
// capacity elements of T, in one memfd sealed against shrinking and
// growing. It checks who listens, on both connections (SO_PEERCRED: our
// effective uid, or one allowed with WithPeerUIDs or WithAnyPeerUID; the
// second connection must reach the same process as the first). A
// listener that takes another element type refuses with ErrTypeMismatch,
// a one-way Accept with ErrKindMismatch. ctx bounds the whole handshake.
// Options: WithSpin, WithPeerUIDs, WithAnyPeerUID.
//
// Each ring behaves as a cross-process channel of its own (see
// DialContext): when the listener's process dies, the Receiver delivers
// everything it had committed and then ErrPeerGone, and Send returns
// ErrPeerGone. Close each side when done.
func DialDuplex[T any](ctx context.Context, path string, capacity int, opts ...Option) (_ *Sender[T], _ *Receiver[T], err error) {
	fail := func(err error) (*Sender[T], *Receiver[T], error) {
		return nil, nil, fmt.Errorf("fdring: dial duplex: %w", err)
	}
	cfg := newConfig(opts)
	if cfg.mem != nil || cfg.data != nil {
		return fail(errors.New("WithMemory and WithNotifiers do not apply across processes"))
	}
	desc, err := ring.Describe[T]()
	if err != nil {
		return fail(err)
	}
	size, stride, total, ok := duplexLayout[T](capacity)
	if !ok {
		if _, err := ring.Init[T](nil, capacity); err != nil {
			return fail(err)
		}
		return fail(fmt.Errorf("%w: %d elements of %s do not fit twice in one memfd", ring.ErrCapacity, capacity, desc.Name))
	}

	// Connection #1 and the memory.
	conn1, pid1, err := dialChecked(ctx, path, cfg.peers)
	if err != nil {
		return fail(err)
	}
	defer conn1.Close() // its fd lives on as a duplicate
	regionA, err := shm.Create("fdring-duplex", total)
	if err != nil {
		return fail(err)
	}
	ownA := true
	defer func() {
		if ownA {
			regionA.Close()
		}
	}()
	regionB, err := mapAgain(regionA)
	if err != nil {
		return fail(err)
	}
	ownB := true
	defer func() {
		if ownB {
			regionB.Close()
		}
	}()
	ringA, err := ring.Init[T](regionA.Bytes()[:size], capacity)
	if err != nil {
		return fail(err)
	}
	ringB, err := ring.Init[T](regionB.Bytes()[stride:stride+size], capacity)
	if err != nil {
		return fail(err)
	}
	ringA.SetShared()
	ringB.SetShared()

	h := newHello(desc, capacity, total, ringA.SharedPlain())
	h.flags |= flagDuplex
	rep, tok, err := exchange(ctx, conn1, h.encode(), regionA.Fd(), duplexReplySize, decodeDuplexReply)
	if err != nil {
		return fail(err)
	}

	// Connection #2: the same listening process, the token, no fd.
	conn2, pid2, err := dialChecked(ctx, path, cfg.peers)
	if err != nil {
		return fail(err)
	}
	defer conn2.Close()
	if pid2 != pid1 {
		return fail(fmt.Errorf("%w: the second connection reached process %d, the first %d", ErrHandshake, pid2, pid1))
	}
	if _, _, err := exchange(ctx, conn2, join{version: protoVersion, token: tok}.encode(), -1, replySize, decodeTokenless); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}

	peerPlain := rep.flags&flagPlainStores != 0
	ringA.SetRemotePeer(peerPlain)
	ringB.SetRemotePeer(peerPlain)
	regionA.CloseFd() // the mappings stay; the listener has its own fd
	regionB.CloseFd()
	txA := ringA.Sender()
	tx, err := remoteSide(conn1, ringA, regionA, cfg.spin, newSender[T], txA.ReceiverClosed, txA.PeerGone)
	if err != nil {
		return fail(err)
	}
	ownA = false // the side's cleanup unmaps it
	rx, err := remoteSide(conn2, ringB, regionB, cfg.spin, newReceiver[T], ringB.Receiver().SenderClosed, nil)
	if err != nil {
		tx.Close()
		return fail(err)
	}
	ownB = false
	return tx, rx, nil
}

// dialChecked connects to path and checks the listener's uid against
// peers; it returns the connection and the listener's pid.
func dialChecked(ctx context.Context, path string, peers peerPolicy) (*net.UnixConn, int, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unixpacket", path)
	if err != nil {
		return nil, 0, err
	}
	conn := nc.(*net.UnixConn)
	pid, _, err := checkPeerUID(conn, peers)
	if err != nil {
		conn.Close()
		return nil, 0, err
	}
	return conn, pid, nil
}

// exchange sends msg (with fd unless it is negative) on conn and decodes
// the one answer of at most maxLen bytes, all before ctx's deadline (or
// HandshakeTimeout) and ended by its cancellation. It leaves conn
// without a deadline.
func exchange[R any](ctx context.Context, conn *net.UnixConn, msg []byte, fd int, maxLen int,
	decode func([]byte) (R, token, error)) (R, token, error) {
	var zero R
	if err := conn.SetDeadline(handshakeDeadline(ctx)); err != nil {
		return zero, token{}, err
	}
	stop := cancelConn(ctx, conn.SetDeadline)
	defer func() {
		stop()
		conn.SetDeadline(time.Time{})
	}()
	var err error
	if fd >= 0 {
		err = shm.SendFds(conn, msg, fd)
	} else {
		_, err = conn.Write(msg)
	}
	if err != nil {
		return zero, token{}, handshakeErr(ctx, err)
	}
	buf := make([]byte, maxLen+1)
	n, err := conn.Read(buf)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return zero, token{}, fmt.Errorf("%w: the listener hung up during the handshake", ErrHandshake)
		}
		return zero, token{}, handshakeErr(ctx, err)
	}
	return decode(buf[:n])
}

// decodeTokenless is decodeReply in exchange's shape: a plain reply
// carries no token.
func decodeTokenless(b []byte) (reply, token, error) {
	r, err := decodeReply(b)
	return r, token{}, err
}

// mapAgain maps r's memfd a second time (its own fd, a duplicate).
func mapAgain(r *shm.Region) (*shm.Region, error) {
	fd, err := unix.FcntlInt(uintptr(r.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup: %w", err)
	}
	r2, err := shm.Map(fd, r.Size())
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return r2, nil
}
