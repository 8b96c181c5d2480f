// Command httpipc serves net/http over shared memory and talks to itself:
// the server listens with fdnet.Listen instead of net.Listen("unix"), the
// client's http.Transport dials with fdnet.Dial, and nothing else
// changes. It makes a few requests (a small GET, an 8 MiB download and an
// 8 MiB upload echoed back, both checked byte for byte, and concurrent
// GETs over several connections), prints what it did and exits 0.
//
//	go run ./examples/httpipc [-size BYTES] [-parallel N]
//
// The socket lives in a temporary directory that is removed on exit.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/fdring/fdring/fdnet"
)

func main() {
	size := flag.Int("size", 8<<20, "bytes of the large download and upload")
	parallel := flag.Int("parallel", 4, "concurrent small GETs")
	flag.Parse()
	if err := run(os.Stdout, *size, *parallel); err != nil {
		fmt.Fprintln(os.Stderr, "httpipc:", err)
		os.Exit(1)
	}
}

// payload returns n reproducible pseudo-random bytes.
func payload(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

const hello = "hello over shared memory\n"

// handler is the server: plain net/http, unaware of fdnet.
func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, hello)
	})
	mux.HandleFunc("GET /blob", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 || n > 1<<30 {
			http.Error(w, "bad n", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(payload(1, n))
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength >= 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
		}
		io.Copy(w, r.Body)
	})
	return mux
}

// stats counts what the client did.
type stats struct {
	mu       sync.Mutex
	requests int
	bytes    int64 // request and response bodies
}

func (s *stats) add(n int64) {
	s.mu.Lock()
	s.requests++
	s.bytes += n
	s.mu.Unlock()
}

func run(out io.Writer, size, parallel int) error {
	if size < 0 || parallel < 1 {
		return errors.New("-size must be >= 0 and -parallel >= 1")
	}
	dir, err := os.MkdirTemp("", "httpipc")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "http.sock")

	// The server: fdnet.Listen instead of net.Listen("unix", path).
	l, err := fdnet.Listen(path)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	// The client: its transport dials with fdnet.Dial.
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return fdnet.Dial(ctx, path)
		},
		MaxIdleConnsPerHost: parallel,
	}
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	fmt.Fprintf(out, "server listening on %s (fdnet)\n", path)

	var st stats
	start := time.Now()
	err = requests(out, client, &st, size, parallel)
	elapsed := time.Since(start)
	tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(ctx); serr != nil && err == nil {
		err = serr
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "done: %d requests, %d body bytes in %v (%.1f MB/s)\n",
		st.requests, st.bytes, elapsed.Round(time.Millisecond), float64(st.bytes)/elapsed.Seconds()/1e6)
	return nil
}

// requests is the client's script.
func requests(out io.Writer, client *http.Client, st *stats, size, parallel int) error {
	var outMu sync.Mutex // the last requests run in parallel; out need not be safe for that
	do := func(method, target string, body []byte, want []byte) error {
		start := time.Now()
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, "http://httpipc"+target, rd)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, target, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: %s", method, target, resp.Status)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s %s: the %d-byte body differs from the %d bytes expected", method, target, len(got), len(want))
		}
		st.add(int64(len(body) + len(got)))
		outMu.Lock()
		fmt.Fprintf(out, "%s %s: %d, %d bytes sent, %d received and checked, in %v\n",
			method, target, resp.StatusCode, len(body), len(got), time.Since(start).Round(time.Microsecond))
		outMu.Unlock()
		return nil
	}
	if err := do("GET", "/hello", nil, []byte(hello)); err != nil {
		return err
	}
	if err := do("GET", "/blob?n="+strconv.Itoa(size), nil, payload(1, size)); err != nil {
		return err
	}
	if err := do("POST", "/echo", payload(2, size), payload(2, size)); err != nil {
		return err
	}
	errs := make(chan error, parallel)
	for range parallel {
		go func() { errs <- do("GET", "/hello", nil, []byte(hello)) }()
	}
	var err error
	for range parallel {
		err = errors.Join(err, <-errs)
	}
	return err
}
