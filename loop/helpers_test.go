package loop

import (
	"context"
	"testing"
	"time"
)

const testTimeout = 10 * time.Second

type backend struct {
	name string
	opts []Option
}

var backends = []backend{
	{"default", nil},
	{"poll", []Option{WithPoll()}},
}

// forBackends runs fn as one subtest per backend.
func forBackends(t *testing.T, fn func(t *testing.T, opts ...Option)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.opts...) })
	}
}

func newLoop(t testing.TB, opts ...Option) *Loop {
	t.Helper()
	l, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// running is a loop running on its own goroutine.
type running struct {
	t      testing.TB
	l      *Loop
	ctx    context.Context
	cancel context.CancelFunc
	errc   chan error
}

// start runs l in a goroutine with a deadline; Cleanup stops it.
func start(t testing.TB, l *Loop) *running {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	r := &running{t: t, l: l, ctx: ctx, cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- l.Run(ctx) }()
	t.Cleanup(func() {
		l.Stop()
		r.wait()
	})
	return r
}

// wait returns Run's result (once; later calls return nil).
func (r *running) wait() error {
	r.t.Helper()
	defer r.cancel()
	select {
	case err, ok := <-r.errc:
		if ok {
			close(r.errc)
		}
		return err
	case <-time.After(testTimeout + time.Second):
		r.t.Fatal("Run did not return")
		return nil
	}
}

// stop stops the loop and returns Run's result.
func (r *running) stop() error {
	r.l.Stop()
	return r.wait()
}

// do runs f on the loop goroutine and waits for it.
func (r *running) do(f func()) {
	r.t.Helper()
	done := make(chan struct{})
	if err := r.l.Post(func() { f(); close(done) }); err != nil {
		r.t.Fatal(err)
	}
	waitCh(r.t, done, "posted function")
}

func waitCh[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}
