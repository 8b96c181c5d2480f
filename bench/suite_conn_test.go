package main

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fdring/fdring/fdnet"
)

// TestConn: every case over every transport (that is built) reports its
// figure and the server's CPU time per op, and the latency cases their
// p50 and p99.
func TestConn(t *testing.T) {
	ms := smoke(t, connSuite)
	u := units(ms)
	for k, us := range u {
		slices.Sort(us)
		want := []string{"bytes/s", unitCPU}
		if strings.HasPrefix(k, "pingpong/") || strings.HasPrefix(k, "grpc/unary") {
			want = []string{unitP50, unitP99, unitCPU}
		}
		slices.Sort(want)
		if !slices.Equal(us, want) {
			t.Errorf("%s: units %v, want %v", k, us, want)
		}
	}
	for _, k := range []string{"bytes/64KiB fdnet", "pingpong/64B fdnet-spin", "grpc/unary1KiB fdnet",
		"grpc/stream1MiB tcp", "http/get8MiB unixsocket"} {
		if u[k] == nil {
			t.Errorf("no %s", k)
		}
	}
}

// TestConnRawServe: the raw server checks what it receives and rejects
// what it does not know.
func TestConnRawServe(t *testing.T) {
	hdr := func(op, arg uint64) []byte {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint64(b, op)
		binary.LittleEndian.PutUint64(b[8:], arg)
		return b
	}
	run := func(in ...[]byte) (string, error) {
		a, b, err := fdnet.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		served := make(chan error, 1)
		go func() {
			defer b.Close()
			served <- connRawServe(b)
		}()
		for _, p := range in {
			if _, err := a.Write(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		a.SetReadDeadline(time.Now().Add(30 * time.Second))
		out, err := io.ReadAll(a)
		if err != nil {
			t.Fatal(err)
		}
		return string(out), <-served
	}
	chunk := func(seq int64) []byte {
		b := pattern(connChunk)
		stamp(b, seq)
		return b
	}
	if out, err := run(hdr(connOpSink, 2), chunk(0), chunk(1)); err != nil || out != "\x01" {
		t.Errorf("sink of 2 good chunks: %q, %v; want the ack", out, err)
	}
	if out, err := run(hdr(connOpSink, 2), chunk(0), chunk(5)); err == nil || out != "" {
		t.Errorf("sink with a wrong stamp: %q, %v; want an error and no ack", out, err)
	}
	if out, err := run(hdr(connOpEcho, 8), []byte("12345678abcdefgh")); !errors.Is(err, io.EOF) || out != "12345678abcdefgh" {
		t.Errorf("echo: %q, %v", out, err)
	}
	if _, err := run(hdr(connOpEcho, 1<<30)); err == nil {
		t.Error("echo of 1 GiB messages accepted")
	}
	if _, err := run(hdr(99, 0)); err == nil {
		t.Error("unknown op accepted")
	}
	if _, err := run([]byte{1, 2, 3}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short header: %v", err)
	}
}

// TestConnHTTPHandler: the body is as long as asked and stamped, and a bad
// size is refused.
func TestConnHTTPHandler(t *testing.T) {
	srv := httptest.NewServer(connHTTPHandler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	get := func(q string) (*http.Response, []byte) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/get?n="+q, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, b := get("200000")
	if resp.StatusCode != http.StatusOK || len(b) != 200000 {
		t.Fatalf("%s, %d bytes", resp.Status, len(b))
	}
	for i := int64(0); i*connChunk+8 <= int64(len(b)); i++ {
		if err := checkStamp(b[i*connChunk:], i); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"-1", "x", "2000000000"} {
		if resp, _ := get(q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("n=%s: %s, want 400", q, resp.Status)
		}
	}
}
