package loop

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestUnixSocketFile: the file a unix listener unlinks on Close: its path,
// and nothing for an abstract address (Linux) or an unnamed one.
func TestUnixSocketFile(t *testing.T) {
	for _, tc := range []struct{ address, want string }{
		{"", ""},
		{"/run/app.sock", "/run/app.sock"},
		{"rel/app.sock", "rel/app.sock"},
		{"app@host.sock", "app@host.sock"},
	} {
		if got := unixSocketFile(tc.address); got != tc.want {
			t.Errorf("unixSocketFile(%q) = %q, want %q", tc.address, got, tc.want)
		}
	}
	for _, a := range []string{"@name", "\x00name"} {
		want := a
		if unixAbstract(a) {
			want = ""
		}
		if got := unixSocketFile(a); got != want {
			t.Errorf("unixSocketFile(%q) = %q, want %q", a, got, want)
		}
	}
}

// TestListenerCloseKeepsReplacedFile: Close removes the socket file it
// created, and nothing that took its place at the path since.
func TestListenerCloseKeepsReplacedFile(t *testing.T) {
	l := newLoop(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")

	ln, err := l.Listen("unix", path, newEcho())
	if err != nil {
		t.Fatal(err)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file after Close: %v", err)
	}

	// Someone removes the file and puts another listener's socket there.
	ln, err = l.Listen("unix", path, newEcho())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("Close removed the socket that replaced its own: %v", err)
	}
	// A plain file there is left alone too.
	ln, err = l.Listen("unix", filepath.Join(dir, "t.sock"), newEcho())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "t.sock")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "t.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "t.sock")); err != nil {
		t.Fatalf("Close removed a file that replaced its socket: %v", err)
	}
}
