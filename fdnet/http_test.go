package fdnet_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fdring/fdring/fdnet"
)

// oneConnListener hands out one Conn, then blocks in Accept until closed:
// the server side of a Pipe behind a net.Listener.
type oneConnListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{conns: make(chan net.Conn, 1), done: make(chan struct{})}
	l.conns <- c
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return fdnet.Addr{Path: "pipe"} }

// TestHTTP serves net/http over a Pipe: a GET of a large body and a POST
// of one, both verified by digest, over one keep-alive connection.
func TestHTTP(t *testing.T) {
	const size = 8 << 20
	client, server := pipe(t)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		io.Copy(w, newStream(42, size))
	})
	mux.HandleFunc("POST /digest", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		if _, err := io.Copy(h, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, hex.EncodeToString(h.Sum(nil)))
	})
	srv := &http.Server{Handler: mux}
	served := async(func() error { return srv.Serve(newOneConnListener(server)) })
	defer func() {
		srv.Close()
		if err := await(t, served); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()

	var dialed atomic.Bool
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dialed.Swap(true) {
			return nil, errors.New("second dial: the keep-alive connection was lost")
		}
		return client, nil
	}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	for range 2 {
		resp, err := hc.Get("http://pipe/big")
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		if err != nil || n != size || sum(h) != digest(42, size) {
			t.Fatalf("GET: %d bytes, %v; digest equal %v", n, err, sum(h) == digest(42, size))
		}
	}

	resp, err := hc.Post("http://pipe/digest", "application/octet-stream", io.LimitReader(newStream(43, size), size))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := digest(43, size)
	if err != nil || string(got) != hex.EncodeToString(want[:]) {
		t.Fatalf("POST: %s, %v; want %x", got, err, want)
	}
}
