package loop

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// TestAbstractUnixAddress: "@name" is a name in Linux's abstract socket
// namespace, which has no file. Listen must not create one and Close must not
// unlink one: Close used to remove a file called "@name" in the working
// directory.
func TestAbstractUnixAddress(t *testing.T) {
	for _, name := range []string{"@", "\x00"} {
		if !unixAbstract(name + "x") {
			t.Errorf("%q is not taken for an abstract address", name+"x")
		}
	}
	dir := t.TempDir()
	t.Chdir(dir)
	forBackends(t, func(t *testing.T, opts ...Option) {
		addr := fmt.Sprintf("@fdring-loop-test-%d-%d", os.Getpid(), time.Now().UnixNano())
		// A file that happens to carry the name, which Close must leave alone.
		if err := os.WriteFile(addr, []byte("not a socket"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(addr)
		l := newLoop(t, opts...)
		h := newEcho()
		ln, err := l.Listen("unix", addr, h)
		if err != nil {
			t.Fatal(err)
		}
		if got := ln.Addr().String(); got != addr {
			t.Errorf("Addr %q, want %q", got, addr)
		}
		run := start(t, l)
		nc, err := net.Dial("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, nc, pattern(1, 4096))
		nc.Close()
		waitCh(t, h.closed, "OnClose")
		var cerr error
		run.do(func() { cerr = ln.Close() })
		if cerr != nil {
			t.Fatal(cerr)
		}
		if _, err := net.Dial("unix", addr); err == nil {
			t.Error("the abstract address still accepts after Close")
		}
		entries, err := os.ReadDir(".")
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != addr {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("working directory holds %q, want only the untouched %q", names, addr)
		}
		if b, err := os.ReadFile(addr); err != nil || string(b) != "not a socket" {
			t.Fatalf("the file named like the address: %q, %v", b, err)
		}
	})
}
