package handlers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync/atomic"

	"github.com/fdring/fdring/loop"
	"github.com/tidwall/evio"
)

// The evio adapter.
//
// ServeEvio maps evio v1.0.8's model onto a loop.Group:
//
//	evio                          here
//	NumLoops 0/1, n, -1           a Group of 1, n, runtime.NumCPU() loops
//	LoadBalance RoundRobin        loop.RoundRobin
//	LoadBalance LeastConnections  loop.LeastConns
//	LoadBalance Random            loop.RoundRobin (the loop has no random)
//	listeners                     Group.Listen: loop 0 accepts, hands over
//	Serving                       after binding, before the loops start, on
//	                              the caller's goroutine (Addrs are the bound
//	                              addresses: port 0 is resolved)
//	Opened, Data, Closed          the Conn's ConnHandler calls, on its loop
//	Wake                          a loop.Waker: Data(c, nil) once per Wake
//	Tick                          a timer on loop 0: at once, then after
//	                              each returned delay
//	PreWrite                      before each Write of an out slice
//	Close, Detach actions         after pending output is flushed (evio's
//	                              order): at once, or in the drain hook
//	Shutdown action               Group.Stop; then every open Conn is closed
//	                              (Closed(c, nil)) and ServeEvio returns nil
//
// Data gets a fresh copy of the input unless Opened asked for
// ReuseInputBuffer, as in evio; with it, in is the loop's read buffer,
// valid only during the call. Returning in as out (evio's echo) is fine
// either way: Write sends or copies it before returning.
//
// Differences from evio: UDP is not served (an error); "?reuseport" is parsed
// and ignored (one listening socket, shared by the loops, balances exactly);
// a "tcp" address with an empty host binds IPv4 only; a conn's LocalAddr is
// its own socket address rather than the listener's; an existing file at a
// unix address is removed only if it is a socket (evio removes anything),
// and never for an abstract address ("@name" on Linux), which has no file.
// Detached hands over a net.Conn (from net.FileConn), which works from any
// goroutine with deadlines, instead of a raw blocking descriptor. Input
// that arrives while a Detach waits for output to flush is not read (as in
// evio): the net.Conn's first Reads return it. Input that arrives while a
// Close waits is read and discarded, so that the close sends FIN rather
// than the reset a socket closed with unread input sends.

// ServeEvio runs evio callbacks on fdring's loop: same Events, same address
// syntax ("tcp://127.0.0.1:0", "unix://path", plain "host:port" for tcp,
// "?reuseport=true"), same actions, so an evio server moves over by changing
// one call. It blocks until a callback returns evio.Shutdown (then it
// returns nil, as evio.Serve does) or a loop fails, and returns an error,
// without serving, when an address is invalid or cannot be bound.
func ServeEvio(events evio.Events, addr ...string) error {
	addrs := make([]evioAddr, len(addr))
	for i, a := range addr {
		p, err := parseEvioAddr(a)
		if err != nil {
			return err
		}
		addrs[i] = p
	}
	n := events.NumLoops
	switch {
	case n == 0:
		n = 1
	case n < 0:
		n = runtime.NumCPU()
	}
	balance := loop.RoundRobin
	if events.LoadBalance == evio.LeastConnections {
		balance = loop.LeastConns
	}
	g, err := loop.NewGroup(n, loop.WithBalance(balance))
	if err != nil {
		return fmt.Errorf("handlers: serve evio: %w", err)
	}
	// Close releases the listeners and closes every Conn (Closed(c, nil));
	// its error (closing fds) has nowhere more useful to go.
	defer g.Close()

	s := &evioServer{events: events, g: g}
	server := evio.Server{NumLoops: n, Addrs: make([]net.Addr, len(addrs))}
	for i, a := range addrs {
		if a.network == "unix" {
			removeStaleSocket(a.address)
		}
		ln, err := g.Listen(a.network, a.address, &evioHandler{s: s, idx: i})
		if err != nil {
			return fmt.Errorf("handlers: serve evio: %w", err)
		}
		server.Addrs[i] = ln.Addr()
	}
	s.lnAddrs = server.Addrs
	if events.Serving != nil && events.Serving(server) == evio.Shutdown {
		return nil
	}
	if events.Tick != nil {
		g.Loops()[0].After(0, s.tick)
	}
	if err := g.Run(context.Background()); err != nil {
		return fmt.Errorf("handlers: serve evio: %w", err)
	}
	return nil
}

// removeStaleSocket removes a unix socket file left at path, as evio removes
// whatever is there before it listens; other files are left for Listen to
// fail on. An abstract address (Linux: "@name") has no file: nothing is
// removed for it.
func removeStaleSocket(path string) {
	if unixAbstract(path) {
		return
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		// If this fails, Listen reports the path in use.
		_ = os.Remove(path)
	}
}

// evioServer is the state shared by all loops of one ServeEvio.
type evioServer struct {
	events   evio.Events
	g        *loop.Group
	lnAddrs  []net.Addr
	shutting atomic.Bool
}

// shutdown stops the group. Any goroutine.
func (s *evioServer) shutdown() {
	if s.shutting.CompareAndSwap(false, true) {
		s.g.Stop()
	}
}

// tick runs on loop 0.
func (s *evioServer) tick() {
	if s.shutting.Load() {
		return
	}
	delay, action := s.events.Tick()
	if action == evio.Shutdown {
		s.shutdown()
		return
	}
	s.g.Loops()[0].After(max(delay, 0), s.tick)
}

// evioHandler serves the connections of one listening address.
type evioHandler struct {
	s   *evioServer
	idx int
}

// OnOpen wraps c and fires Opened.
func (h *evioHandler) OnOpen(c *loop.Conn) {
	ec := &evioConn{s: h.s, c: c, idx: h.idx, laddr: c.LocalAddr(), raddr: c.RemoteAddr()}
	if ec.laddr == nil {
		ec.laddr = h.s.lnAddrs[h.idx]
	}
	ec.waker = c.Loop().NewWaker(ec.onWake)
	c.SetContext(ec)
	c.SetOnDrain(h.onDrain)
	ev := &h.s.events
	if ev.Opened == nil {
		return
	}
	out, opts, action := ev.Opened(ec)
	ec.reuse = opts.ReuseInputBuffer
	if opts.TCPKeepAlive > 0 {
		if _, ok := ec.laddr.(*net.TCPAddr); ok {
			// Best effort, as in evio, which ignores the error too.
			_ = setKeepAlive(c.Fd(), opts.TCPKeepAlive)
		}
	}
	ec.output(out, action)
}

// OnData fires Data.
func (h *evioHandler) OnData(c *loop.Conn, data []byte) {
	if ec, ok := c.Context().(*evioConn); ok {
		ec.onData(data)
	}
}

// onDrain, the Conn's drain hook, carries out a Close or Detach that
// waited for the output.
func (h *evioHandler) onDrain(c *loop.Conn) {
	if ec, ok := c.Context().(*evioConn); ok && ec.pending != evio.None {
		ec.settle()
	}
}

// OnClose fires Closed.
func (h *evioHandler) OnClose(c *loop.Conn, err error) {
	if ec, ok := c.Context().(*evioConn); ok {
		ec.onClose(err)
	}
}

// evioConn is the evio.Conn of one connection. Its fields are touched on
// the owning loop's goroutine only, except wakes (atomic) and waker.
type evioConn struct {
	s            *evioServer
	c            *loop.Conn
	idx          int
	ctx          any
	laddr, raddr net.Addr
	reuse        bool
	waker        *loop.Waker
	wakes        atomic.Int64 // Wake calls not yet served
	pending      evio.Action  // Close or Detach waiting for output to flush
}

// Context returns the user context set by SetContext.
func (ec *evioConn) Context() any { return ec.ctx }

// SetContext sets a user context.
func (ec *evioConn) SetContext(v any) { ec.ctx = v }

// AddrIndex returns the index of the listening address the conn came from.
func (ec *evioConn) AddrIndex() int { return ec.idx }

// LocalAddr returns the conn's local socket address.
func (ec *evioConn) LocalAddr() net.Addr { return ec.laddr }

// RemoteAddr returns the peer's address.
func (ec *evioConn) RemoteAddr() net.Addr { return ec.raddr }

// Wake makes the loop call Data(c, nil), once per Wake. Safe from any
// goroutine; a Wake of a closed conn or server is ignored.
func (ec *evioConn) Wake() {
	ec.wakes.Add(1)
	// ErrClosed: the server is gone, and so is the conn.
	_ = ec.waker.Wake()
}

func (ec *evioConn) onWake() {
	for n := ec.wakes.Swap(0); n > 0; n-- {
		// Closed covers a detached Conn too.
		if ec.pending != evio.None || ec.c.Closed() || ec.s.events.Data == nil {
			return
		}
		out, action := ec.s.events.Data(ec, nil)
		ec.output(out, action)
	}
}

func (ec *evioConn) onData(data []byte) {
	if ec.pending != evio.None || ec.s.events.Data == nil {
		return // discarded: see the Close action
	}
	in := data
	if !ec.reuse {
		in = append([]byte(nil), data...)
	}
	out, action := ec.s.events.Data(ec, in)
	ec.output(out, action)
}

// output writes a callback's out and carries out its action.
func (ec *evioConn) output(out []byte, action evio.Action) {
	if len(out) > 0 && !ec.c.Closed() {
		if ec.s.events.PreWrite != nil {
			ec.s.events.PreWrite()
		}
		// An error means the Conn is closing: OnClose follows.
		_, _ = ec.c.Write(out)
	}
	switch action {
	case evio.Close, evio.Detach:
		if ec.pending != evio.None || ec.c.Closed() {
			return
		}
		ec.pending = action
		if ec.detaching() {
			// Input from now on is the detached owner's: leave it in the
			// socket. An error means the Conn is closing: OnClose follows.
			_ = ec.c.PauseRead()
		}
		if ec.c.Buffered() == 0 {
			ec.settle()
		} // else the drain hook settles
	case evio.Shutdown:
		ec.s.shutdown()
	}
}

// detaching reports whether the pending action hands the socket over; evio
// closes on Detach when there is no Detached callback.
func (ec *evioConn) detaching() bool {
	return ec.pending == evio.Detach && ec.s.events.Detached != nil
}

// settle carries out the pending Close or Detach, once the output is flushed.
func (ec *evioConn) settle() {
	if ec.c.Closed() {
		return
	}
	if ec.detaching() {
		ec.detach()
		return
	}
	ec.c.Close()
}

func (ec *evioConn) detach() {
	fd, err := ec.c.Detach()
	if err != nil {
		return // the Conn is closing: OnClose follows
	}
	f := os.NewFile(uintptr(fd), "evio-detached")
	nc, err := net.FileConn(f) // a duplicate; f's is closed next
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
		nc.Close()
	}
	if err != nil {
		ec.fireClosed(err)
		return
	}
	if ec.s.events.Detached(ec, nc) == evio.Shutdown {
		ec.s.shutdown()
	}
}

func (ec *evioConn) onClose(err error) {
	if errors.Is(err, loop.ErrClosed) {
		err = nil // the server shut down; evio reports nil then
	}
	ec.fireClosed(err)
}

func (ec *evioConn) fireClosed(err error) {
	if ec.s.events.Closed != nil && ec.s.events.Closed(ec, err) == evio.Shutdown {
		ec.s.shutdown()
	}
}
