package loop

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// halfCloser serves a peer that shuts its write side down at once: it
// allows half-close and, once the peer's FIN was read, sends reply (from a
// timer, that is after the FIN) and shuts its own write side down; with
// reply nil it switches half-close off instead, which closes the Conn.
type halfCloser struct {
	reply  []byte
	closed chan error
}

func (h *halfCloser) OnOpen(c *Conn) {
	c.SetHalfClose(true)
	var tick *Timer
	tick = c.Loop().Every(time.Millisecond, func() {
		if !c.PeerClosed() {
			return
		}
		tick.Stop()
		if h.reply == nil {
			c.SetHalfClose(false)
			return
		}
		if _, err := c.Write(h.reply); err != nil {
			h.closed <- err
			return
		}
		// CloseWrite after the FIN: the Conn closes once its own FIN is out.
		if err := c.CloseWrite(); err != nil {
			h.closed <- err
		}
	})
}

func (h *halfCloser) OnData(*Conn, []byte)       {}
func (h *halfCloser) OnClose(_ *Conn, err error) { h.closed <- err }

// rawHalfCloser is halfCloser read through Conn.Read (an OnReadable hook).
type rawHalfCloser struct{ *halfCloser }

func (h rawHalfCloser) OnOpen(c *Conn) {
	h.halfCloser.OnOpen(c)
	c.SetOnReadable(h.onReadable)
}

func (h rawHalfCloser) onReadable(c *Conn) {
	var buf [512]byte
	for {
		if n, err := c.Read(buf[:]); n == 0 || err != nil {
			return
		}
	}
}

func TestSetHalfClose(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		for _, raw := range []bool{false, true} {
			name := network
			if raw {
				name += "/Read"
			}
			t.Run(name, func(t *testing.T) {
				forBackends(t, func(t *testing.T, opts ...Option) {
					for _, reply := range [][]byte{pattern(5, 1<<20), nil} {
						l := newLoop(t, opts...)
						hc := &halfCloser{reply: reply, closed: make(chan error, 2)}
						var h ConnHandler = hc
						if raw {
							h = rawHalfCloser{hc}
						}
						netw, addr := listenArgs(t, network)
						ln, err := l.Listen(netw, addr, h)
						if err != nil {
							t.Fatal(err)
						}
						run := start(t, l)
						nc, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
						if err != nil {
							t.Fatal(err)
						}
						defer nc.Close()
						nc.SetDeadline(time.Now().Add(testTimeout))
						if _, err := nc.Write([]byte("request")); err != nil {
							t.Fatal(err)
						}
						if err := nc.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
							t.Fatal(err)
						}
						got, err := io.ReadAll(nc)
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got, reply) {
							t.Fatalf("got %d bytes after the FIN, want %d", len(got), len(reply))
						}
						if err := waitCh(t, hc.closed, "OnClose"); err != nil {
							t.Fatalf("OnClose(%v), want nil", err)
						}
						if err := run.stop(); err != nil {
							t.Fatal(err)
						}
						if st := l.Stats(); st.Conns != 0 {
							t.Fatalf("%d conns open after OnClose", st.Conns)
						}
					}
				})
			})
		}
	}
}
