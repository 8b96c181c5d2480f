package handlers

import (
	"sync"
	"sync/atomic"

	"github.com/fdring/fdring/loop"
)

// Echo is a loop.ConnHandler that writes every byte it reads back to the
// same connection. The zero value is ready to use, and one Echo may serve
// any number of connections on any number of loops (a Group); its getters
// are safe from any goroutine.
//
// Backpressure is the loop's: when a client does not read its echo, the
// Conn's pending output reaches the high-water mark and the loop stops
// reading from it (loop.WithWaterMarks).
//
// Counting. The per-message path writes no memory that another loop
// writes: each loop has a byte counter of its own, on a cache line of its
// own, that only its goroutine adds to; a Conn finds its loop's counter in
// its Context, set in OnOpen (so Echo owns the Conns' Context). Bytes sums
// the counters. Opening and closing a connection take a mutex, to find or
// retire its loop's counter: a counter lives while its loop has open
// connections, then its count moves into retired.
type Echo struct {
	accepted atomic.Uint64
	open     atomic.Int64

	mu      sync.Mutex               // guards loops, retired and echoLoop.conns
	loops   map[*loop.Loop]*echoLoop // the loops with open connections
	retired uint64                   // bytes counted by counters since retired
}

// echoLoop counts the bytes echoed on one loop. Its loop's goroutine is the
// only writer; the padding keeps two loops' counters off one cache line.
type echoLoop struct {
	bytes atomic.Uint64
	conns int // the loop's open connections
	_     [128 - 16]byte
}

// NewEcho returns a new Echo.
func NewEcho() *Echo { return new(Echo) }

// OnOpen counts the connection.
func (e *Echo) OnOpen(c *loop.Conn) {
	e.accepted.Add(1)
	e.open.Add(1)
	e.mu.Lock()
	cl := e.loops[c.Loop()]
	if cl == nil {
		if e.loops == nil {
			e.loops = make(map[*loop.Loop]*echoLoop)
		}
		cl = new(echoLoop)
		e.loops[c.Loop()] = cl
	}
	cl.conns++
	e.mu.Unlock()
	c.SetContext(cl)
}

// OnData writes data back.
func (e *Echo) OnData(c *loop.Conn, data []byte) {
	if cl, ok := c.Context().(*echoLoop); ok {
		cl.bytes.Add(uint64(len(data)))
	}
	// A failed Write closes the Conn after this call; OnClose follows.
	_, _ = c.Write(data)
}

// OnClose uncounts the connection.
func (e *Echo) OnClose(c *loop.Conn, err error) {
	e.open.Add(-1)
	cl, ok := c.Context().(*echoLoop)
	if !ok {
		return
	}
	e.mu.Lock()
	if cl.conns--; cl.conns == 0 {
		e.retired += cl.bytes.Load()
		delete(e.loops, c.Loop())
	}
	e.mu.Unlock()
}

// Bytes returns how many bytes were echoed (read and handed to Write), up
// to date with every OnData that returned.
func (e *Echo) Bytes() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.retired
	for _, cl := range e.loops {
		n += cl.bytes.Load()
	}
	return n
}

// Accepted returns how many connections were opened.
func (e *Echo) Accepted() uint64 { return e.accepted.Load() }

// Conns returns how many connections are open now.
func (e *Echo) Conns() int64 { return e.open.Load() }
