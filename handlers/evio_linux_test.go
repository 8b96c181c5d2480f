package handlers_test

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/tidwall/evio"
)

// TestServeEvioAbstractUnix: "unix://@name" serves on Linux's abstract
// namespace, which has no file. ServeEvio removes a stale socket file at a
// unix address before listening; it used to remove a socket file called
// "@name" in the working directory for an abstract address too.
func TestServeEvioAbstractUnix(t *testing.T) {
	t.Chdir(t.TempDir())
	name := fmt.Sprintf("@fdring-evio-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	// A stale socket file that happens to carry the name.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: "./" + name, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	defer os.Remove(name)

	var events evio.Events
	events.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) { return in, evio.None }
	s := startEvio(t, events, "unix://"+name)
	if got := s.server.Addrs[0].String(); got != name {
		t.Errorf("address %q, want %q", got, name)
	}
	echoClients(t, "unix", name, 2, 64<<10, "")
	close(s.stop)
	s.wait(t)
	if fi, err := os.Lstat(name); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("the socket file named like the abstract address: %v, %v", fi, err)
	}
}
