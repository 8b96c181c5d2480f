package handlers_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fdring/fdring/handlers"
	"github.com/tidwall/evio"
)

// evioServer runs ServeEvio on its own goroutine until the test ends. It
// wraps Serving to capture the server, and, unless the test set its own,
// Tick to shut the server down when the test ends.
type evioServer struct {
	server evio.Server
	stop   chan struct{}
	errc   chan error
}

func startEvio(t *testing.T, events evio.Events, addrs ...string) *evioServer {
	t.Helper()
	s := &evioServer{stop: make(chan struct{}), errc: make(chan error, 1)}
	serving := make(chan evio.Server, 1)
	user := events.Serving
	events.Serving = func(srv evio.Server) evio.Action {
		serving <- srv
		if user != nil {
			return user(srv)
		}
		return evio.None
	}
	if events.Tick == nil {
		events.Tick = func() (time.Duration, evio.Action) {
			select {
			case <-s.stop:
				return 0, evio.Shutdown
			default:
				return 5 * time.Millisecond, evio.None
			}
		}
	}
	go func() { s.errc <- handlers.ServeEvio(events, addrs...) }()
	select {
	case s.server = <-serving:
	case err := <-s.errc:
		t.Fatalf("ServeEvio: %v", err)
	case <-time.After(timeout):
		t.Fatal("timed out waiting for Serving")
	}
	t.Cleanup(func() {
		select {
		case <-s.stop:
		default:
			close(s.stop)
		}
		s.wait(t)
	})
	return s
}

// wait waits for ServeEvio to return and checks it returned nil.
func (s *evioServer) wait(t *testing.T) {
	t.Helper()
	select {
	case err, ok := <-s.errc:
		if ok && err != nil {
			t.Errorf("ServeEvio: %v", err)
		}
		if ok {
			close(s.errc)
		}
	case <-time.After(timeout):
		t.Errorf("ServeEvio did not return within %v", timeout)
	}
}

func (s *evioServer) addr(i int) (network, address string) {
	a := s.server.Addrs[i]
	return a.Network(), a.String()
}

// echoClients runs n clients against addr, each sending size patterned
// bytes and verifying the echo, after reading greeting if not empty.
func echoClients(t *testing.T, network, addr string, n int, size int64, greeting string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		c := dial(t, network, addr)
		wg.Go(func() {
			defer c.Close()
			if greeting != "" {
				buf := make([]byte, len(greeting))
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != greeting {
					errs <- fmt.Errorf("client %d: greeting %q, %v", i, buf, err)
					return
				}
			}
			writeErr := make(chan error, 1)
			go func() {
				buf := make([]byte, 16<<10)
				for off := int64(0); off < size; off += int64(len(buf)) {
					p := buf[:min(int64(len(buf)), size-off)]
					fillPattern(p, off)
					if _, err := c.Write(p); err != nil {
						writeErr <- err
						return
					}
				}
				writeErr <- nil
			}()
			if err := readPattern(c, size); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
			if err := <-writeErr; err != nil {
				errs <- fmt.Errorf("client %d: write: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestServeEvioEcho: evio's README echo server, with a greeting from
// Opened, Closed counted per conn, and Tick called repeatedly until its
// Shutdown stops the server.
func TestServeEvioEcho(t *testing.T) {
	const clients = 4
	var events evio.Events
	var opened, closed atomic.Int64
	closedCh := make(chan struct{}, clients)
	events.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		opened.Add(1)
		return []byte("hello\n"), evio.Options{}, evio.None
	}
	events.Data = func(c evio.Conn, in []byte) (out []byte, action evio.Action) {
		out = in
		return
	}
	events.Closed = func(c evio.Conn, err error) evio.Action {
		if err != nil {
			t.Errorf("Closed(%v), want nil", err)
		}
		closed.Add(1)
		closedCh <- struct{}{}
		return evio.None
	}
	ticks := make(chan struct{}, 3)
	stop := make(chan struct{})
	var tickCount atomic.Int64
	events.Tick = func() (time.Duration, evio.Action) {
		tickCount.Add(1)
		select {
		case ticks <- struct{}{}:
		default:
		}
		select {
		case <-stop:
			return 0, evio.Shutdown
		default:
			return time.Millisecond, evio.None
		}
	}
	s := startEvio(t, events, "tcp://127.0.0.1:0")
	if s.server.NumLoops != 1 || len(s.server.Addrs) != 1 {
		t.Fatalf("Serving got %+v, want 1 loop and 1 address", s.server)
	}
	if a, ok := s.server.Addrs[0].(*net.TCPAddr); !ok || a.Port == 0 {
		t.Fatalf("Serving got address %v, want the bound TCP port", s.server.Addrs[0])
	}
	network, addr := s.addr(0)
	echoClients(t, network, addr, clients, 256<<10, "hello\n")
	for range clients {
		recv(t, closedCh, "Closed")
	}
	for range 3 {
		recv(t, ticks, "Tick")
	}
	close(stop)
	s.wait(t)
	if opened.Load() != clients || closed.Load() != clients {
		t.Errorf("Opened %d times, Closed %d times, want %d each", opened.Load(), closed.Load(), clients)
	}
	if tickCount.Load() < 3 {
		t.Errorf("Tick called %d times, want at least 3", tickCount.Load())
	}
}

// TestServeEvioActions: Close from Data closes that conn after its output;
// Wake from another goroutine makes Data(c, nil) run; Shutdown from Data
// stops the server and closes the remaining conns with Closed(c, nil).
func TestServeEvioActions(t *testing.T) {
	conns := make(chan evio.Conn, 4)
	closedCh := make(chan error, 4)
	var events evio.Events
	events.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		conns <- c
		return nil, evio.Options{}, evio.None
	}
	events.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		switch {
		case in == nil:
			return []byte("woken\n"), evio.None
		case bytes.Equal(in, []byte("quit\n")):
			return []byte("bye\n"), evio.Close
		case bytes.Equal(in, []byte("shutdown\n")):
			return nil, evio.Shutdown
		}
		return in, evio.None
	}
	events.Closed = func(c evio.Conn, err error) evio.Action {
		closedCh <- err
		return evio.None
	}
	s := startEvio(t, events, "127.0.0.1:0") // plain host:port means tcp
	network, addr := s.addr(0)

	// Close.
	c1 := dial(t, network, addr)
	recv(t, conns, "Opened")
	if _, err := c1.Write([]byte("quit\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(c1); err != nil || string(got) != "bye\n" {
		t.Errorf("after quit: read %q, %v; want \"bye\\n\" then EOF", got, err)
	}
	if err := recv(t, closedCh, "Closed"); err != nil {
		t.Errorf("Closed(%v) after the Close action, want nil", err)
	}

	// Wake.
	c2 := dial(t, network, addr)
	ec := recv(t, conns, "Opened")
	if ec.AddrIndex() != 0 || ec.RemoteAddr() == nil || ec.LocalAddr() == nil {
		t.Errorf("conn: AddrIndex %d, RemoteAddr %v, LocalAddr %v", ec.AddrIndex(), ec.RemoteAddr(), ec.LocalAddr())
	}
	woke := make(chan struct{})
	go func() {
		defer close(woke)
		ec.Wake()
	}()
	recv(t, woke, "Wake to return")
	r2 := bufio.NewReader(c2)
	if line, err := r2.ReadString('\n'); err != nil || line != "woken\n" {
		t.Errorf("after Wake: read %q, %v", line, err)
	}

	// Shutdown from Data.
	if _, err := c2.Write([]byte("shutdown\n")); err != nil {
		t.Fatal(err)
	}
	s.wait(t)
	if err := recv(t, closedCh, "Closed at shutdown"); err != nil {
		t.Errorf("Closed(%v) at shutdown, want nil", err)
	}
	if _, err := r2.ReadByte(); err == nil {
		t.Error("conn still open after Shutdown")
	}
}

// TestServeEvioUnixAndLoops: a unix socket and a TCP address served by two
// loops, balanced by least connections, with AddrIndex telling them apart.
func TestServeEvioUnixAndLoops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evio.sock")
	var mu sync.Mutex
	byIndex := map[int]int{}
	var events evio.Events
	events.NumLoops = 2
	events.LoadBalance = evio.LeastConnections
	events.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
		mu.Lock()
		byIndex[c.AddrIndex()]++
		mu.Unlock()
		return nil, evio.Options{ReuseInputBuffer: true, TCPKeepAlive: time.Minute}, evio.None
	}
	events.Data = func(c evio.Conn, in []byte) (out []byte, action evio.Action) {
		out = in
		return
	}
	s := startEvio(t, events, "unix://"+path, "tcp4://127.0.0.1:0?reuseport=true")
	if s.server.NumLoops != 2 || len(s.server.Addrs) != 2 {
		t.Fatalf("Serving got %+v, want 2 loops and 2 addresses", s.server)
	}
	if got := s.server.Addrs[0].String(); got != path {
		t.Errorf("unix address %q, want %q", got, path)
	}
	echoClients(t, "unix", path, 3, 128<<10, "")
	network, addr := s.addr(1)
	echoClients(t, network, addr, 3, 128<<10, "")
	mu.Lock()
	defer mu.Unlock()
	if byIndex[0] != 3 || byIndex[1] != 3 {
		t.Errorf("conns per address index: %v, want 3 and 3", byIndex)
	}
}

// detachCalls counts the callbacks of detachEvents.
type detachCalls struct{ data, closed atomic.Int64 }

// detachEvents returns events whose Data answers out with Detach, and whose
// Detached serves the net.Conn on a goroutine: it reads one line, replies
// "goroutine got " and the line, closes the conn and sends the error to
// detached.
func detachEvents(out []byte, detached chan<- error, calls *detachCalls) evio.Events {
	var events evio.Events
	events.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		calls.data.Add(1)
		return out, evio.Detach
	}
	events.Closed = func(c evio.Conn, err error) evio.Action {
		calls.closed.Add(1)
		return evio.None
	}
	events.Detached = func(c evio.Conn, rwc io.ReadWriteCloser) evio.Action {
		go func() {
			defer rwc.Close()
			if nc, ok := rwc.(net.Conn); ok {
				nc.SetDeadline(time.Now().Add(timeout))
			}
			line, err := bufio.NewReader(rwc).ReadString('\n')
			if err == nil {
				_, err = rwc.Write([]byte("goroutine got " + line))
			}
			detached <- err
		}()
		return evio.None
	}
	return events
}

// TestServeEvioDetach: Detach hands the socket over as a net.Conn that a
// goroutine serves; Closed is not called for it.
func TestServeEvioDetach(t *testing.T) {
	detached := make(chan error, 1)
	var calls detachCalls
	events := detachEvents([]byte("detaching\n"), detached, &calls)
	s := startEvio(t, events, "tcp://127.0.0.1:0")
	network, addr := s.addr(0)
	c := dial(t, network, addr)
	if _, err := c.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || line != "detaching\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "goroutine got ping\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	if err := recv(t, detached, "the detached goroutine"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("after the detached conn closed: %v, want EOF", err)
	}
	if n := calls.closed.Load(); n != 0 {
		t.Errorf("Closed called %d times for a detached conn", n)
	}
}

// TestServeEvioServingShutdown: Shutdown from Serving returns nil at once.
func TestServeEvioServingShutdown(t *testing.T) {
	var events evio.Events
	events.Serving = func(evio.Server) evio.Action { return evio.Shutdown }
	errc := make(chan error, 1)
	go func() { errc <- handlers.ServeEvio(events, "tcp://127.0.0.1:0") }()
	if err := recv(t, errc, "ServeEvio"); err != nil {
		t.Errorf("ServeEvio: %v, want nil", err)
	}
}

// TestServeEvioBadAddress: invalid or unusable addresses are errors.
func TestServeEvioBadAddress(t *testing.T) {
	dir := t.TempDir()
	for _, addr := range []string{
		"udp://127.0.0.1:0",
		"bogus://127.0.0.1:0",
		"unix://",
		"://127.0.0.1:0",
		"tcp://127.0.0.1:99999",
		"tcp://no-such-host.invalid:0",
		"unix://" + filepath.Join(dir, "missing", "dir", "s.sock"),
	} {
		errc := make(chan error, 1)
		var events evio.Events
		events.Serving = func(evio.Server) evio.Action { return evio.Shutdown }
		go func() { errc <- handlers.ServeEvio(events, addr) }()
		if err := recv(t, errc, "ServeEvio"); err == nil {
			t.Errorf("ServeEvio(%q) = nil, want an error", addr)
		}
	}
}

// TestParseEvioAddr: the address syntax, table-driven.
func TestParseEvioAddr(t *testing.T) {
	for _, tc := range []struct {
		in, network, address string
		err                  bool
	}{
		{in: "tcp://127.0.0.1:0", network: "tcp", address: "127.0.0.1:0"},
		{in: "tcp4://0.0.0.0:5000", network: "tcp4", address: "0.0.0.0:5000"},
		{in: "tcp6://[::1]:5000", network: "tcp6", address: "[::1]:5000"},
		{in: "localhost:5000", network: "tcp", address: "localhost:5000"},
		{in: ":5000", network: "tcp", address: ":5000"},
		{in: "unix:///tmp/x.sock", network: "unix", address: "/tmp/x.sock"},
		{in: "unix://rel.sock", network: "unix", address: "rel.sock"},
		{in: "tcp-net://127.0.0.1:1", network: "tcp", address: "127.0.0.1:1"},
		{in: "tcp://127.0.0.1:1?reuseport=true", network: "tcp", address: "127.0.0.1:1"},
		{in: "tcp://127.0.0.1:1?reuseport=1", network: "tcp", address: "127.0.0.1:1"},
		{in: "tcp://127.0.0.1:1?reuseport=yes", network: "tcp", address: "127.0.0.1:1"},
		{in: "tcp://127.0.0.1:1?reuseport=false", network: "tcp", address: "127.0.0.1:1"},
		{in: "tcp://127.0.0.1:1?reuseport=0", network: "tcp", address: "127.0.0.1:1"},
		{in: "tcp://127.0.0.1:1?reuseport=", network: "tcp", address: "127.0.0.1:1"},
		{in: "tcp://127.0.0.1:1?other=1&reuseport=t", network: "tcp", address: "127.0.0.1:1"},
		{in: "tcp://127.0.0.1:1?reuseport", network: "tcp", address: "127.0.0.1:1"},
		{in: "", network: "tcp", address: ""},
		{in: "udp://127.0.0.1:1", err: true},
		{in: "udp4://127.0.0.1:1", err: true},
		{in: "http://127.0.0.1:1", err: true},
		{in: "://127.0.0.1:1", err: true},
		{in: "unix://", err: true},
		{in: "unix://?reuseport=1", err: true},
	} {
		network, address, err := handlers.ParseEvioAddr(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("%q: error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if network != tc.network || address != tc.address {
			t.Errorf("%q: got (%q, %q), want (%q, %q)", tc.in, network, address, tc.network, tc.address)
		}
	}
}

// FuzzParseEvioAddr: the parser never panics, and what it accepts is one
// of the served networks.
func FuzzParseEvioAddr(f *testing.F) {
	for _, s := range []string{"tcp://127.0.0.1:0", "unix:///tmp/s", "a:1?reuseport=1&x=y", "://", "?", "tcp-net://",
		"unix://", "udp4://:1", "sctp://h:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		network, _, err := handlers.ParseEvioAddr(s)
		if err != nil {
			return
		}
		switch network {
		case "tcp", "tcp4", "tcp6", "unix":
		default:
			t.Errorf("%q: accepted network %q", s, network)
		}
	})
}

// TestServeEvioActAfterFlush: Close and Detach wait until the output written
// with them is flushed (the loop's OnDrain), however long the client takes
// to read it. The client reads through a small receive buffer, so most of
// the output is pending in the loop when it starts reading.
func TestServeEvioActAfterFlush(t *testing.T) {
	const size = 16 << 20
	big := make([]byte, size)
	fillPattern(big, 0)
	dialSlow := func(t *testing.T, s *evioServer) net.Conn {
		network, addr := s.addr(0)
		return dialSlowReader(t, network, addr)
	}

	t.Run("Close", func(t *testing.T) {
		closedCh := make(chan error, 1)
		var events evio.Events
		events.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) { return big, evio.Close }
		events.Closed = func(c evio.Conn, err error) evio.Action {
			closedCh <- err
			return evio.None
		}
		c := dialSlow(t, startEvio(t, events, "tcp://127.0.0.1:0"))
		if _, err := c.Write([]byte("quit\n")); err != nil {
			t.Fatal(err)
		}
		if err := readPattern(c, size); err != nil {
			t.Fatal(err)
		}
		if err := expectEOF(c); err != nil {
			t.Error(err)
		}
		if err := recv(t, closedCh, "Closed"); err != nil {
			t.Errorf("Closed(%v), want nil", err)
		}
	})

	// Bytes the client sends after the Data call that returned Detach,
	// while the output is still pending, stay in the socket for the
	// detached net.Conn.
	t.Run("Detach", func(t *testing.T) {
		detached := make(chan error, 1)
		var calls detachCalls
		events := detachEvents(big, detached, &calls)
		c := dialSlow(t, startEvio(t, events, "tcp://127.0.0.1:0"))
		if _, err := c.Write([]byte("go\n")); err != nil {
			t.Fatal(err)
		}
		// The first output byte says Data returned; megabytes are pending.
		if err := readPatternFrom(c, 0, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("ping\n")); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		if err := readPatternFrom(r, 1, size); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadString('\n'); err != nil || line != "goroutine got ping\n" {
			t.Fatalf("read %q, %v; want the detached goroutine's reply", line, err)
		}
		if err := recv(t, detached, "the detached goroutine"); err != nil {
			t.Fatal(err)
		}
		if err := expectEOF(r); err != nil {
			t.Errorf("after the detached conn closed: %v", err)
		}
		if n, m := calls.data.Load(), calls.closed.Load(); n != 1 || m != 0 {
			t.Errorf("Data called %d times (want 1), Closed %d times (want 0)", n, m)
		}
	})
}
