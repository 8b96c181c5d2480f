package main

// The fdring implementations of the pingpong suite. Both processes connect
// the same two byte rings: the child listens for the request ring (the
// parent Dials it), the parent listens for the response ring (the child
// Dials it). Then either a loop.Loop serves each side's receiving ring and
// sends from its handler (fdring, fdring-spin), or each side simply calls
// SendWait and RecvWait (fdring-wait). A message never wraps the ring (its
// capacity is a multiple of every message size) and only one is in flight,
// so a Send always takes it whole and a Recv gets it whole.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/fdring/fdring"
	"github.com/fdring/fdring/loop"
)

// pingpongLoopSpin is the loop spin of an implementation.
func pingpongLoopSpin(im string) time.Duration {
	if im == "fdring-spin" {
		return pingpongSpin
	}
	return 0
}

func fdringPinger(ctx context.Context, a pingpongArgs) (pinger, error) {
	l, err := fdring.Listen(filepath.Join(a.Dir, "resp"))
	if err != nil {
		return pinger{}, err
	}
	var (
		tx *fdring.Sender[byte]
		rx *fdring.Receiver[byte]
	)
	pg := pinger{
		after: func() (err error) {
			if tx, err = fdring.DialContext[byte](ctx, a.ReqPath, pingpongRingCap); err != nil {
				return err
			}
			rx, err = fdring.AcceptContext[byte](ctx, l)
			return err
		},
		close: func() {
			if tx != nil {
				tx.Close()
			}
			if rx != nil {
				rx.Close()
			}
			l.Close()
		},
	}
	if a.Impl == "fdring-wait" {
		pg.run = func(lg *rttLog) error { return waitRoundTrips(ctx, tx, rx, a.Msg, lg) }
	} else {
		pg.run = func(lg *rttLog) error {
			return loopRoundTrips(ctx, tx, rx, a.Msg, pingpongLoopSpin(a.Impl), lg)
		}
	}
	return pg, nil
}

// loopRoundTrips: a loop serves the response ring and sends each next
// request from its handler.
func loopRoundTrips(ctx context.Context, tx *fdring.Sender[byte], rx *fdring.Receiver[byte], msg int,
	spin time.Duration, lg *rttLog) error {
	lp, err := loop.New(loop.WithSpin(spin))
	if err != nil {
		return err
	}
	defer lp.Close()
	out, in := pattern(msg), make([]byte, msg)
	fill := func(f []byte) int { return copy(f, out) }
	send := func(i int64) error {
		stamp(out, i)
		k, err := tx.Send(fill)
		if err == nil && k != len(out) {
			err = errors.New("request ring full")
		}
		return err
	}
	var (
		i    int64
		ferr error
	)
	read := func(d []byte) int {
		if len(d) < msg {
			return 0
		}
		return copy(in, d[:msg])
	}
	_, err = lp.Watch(rx, loop.HandlerFunc(func(loop.Token, loop.Event) {
		for {
			k, err := rx.Recv(read)
			if err == nil && k == 0 {
				return
			}
			if err == nil {
				more := lg.lap()
				if err = checkStamp(in, i); err == nil && !more {
					lp.Stop()
					return
				}
			}
			if err == nil {
				i++
				err = send(i)
			}
			if err != nil {
				ferr = err
				lp.Stop()
				return
			}
		}
	}), loop.Readable)
	if err != nil {
		return err
	}
	lg.start()
	if err := send(0); err != nil {
		return err
	}
	if err := lp.Run(ctx); err != nil {
		return err
	}
	return ferr
}

// waitRoundTrips: SendWait the request, RecvWait the response, with the
// rings' default spin (fdring.DefaultSpin).
func waitRoundTrips(ctx context.Context, tx *fdring.Sender[byte], rx *fdring.Receiver[byte], msg int,
	lg *rttLog) error {
	var cur []byte
	fill := func(f []byte) int { return copy(f, cur) }
	var got []byte
	read := func(d []byte) int {
		if len(d) < len(got) {
			return 0
		}
		return copy(got, d[:len(got)])
	}
	return roundTrips(lg, msg, func(b []byte) error {
		cur = b
		k, err := tx.SendWait(ctx, fill)
		if err == nil && k != len(b) {
			err = fmt.Errorf("request ring took %d of %d bytes", k, len(b))
		}
		return err
	}, func(b []byte) error {
		got = b
		return recvWhole(ctx, rx, read)
	})
}

// recvWhole RecvWaits until read took a message (read returns 0 while the
// readable part is shorter than one).
func recvWhole(ctx context.Context, rx *fdring.Receiver[byte], read func([]byte) int) error {
	for {
		k, err := rx.RecvWait(ctx, read)
		if err != nil || k > 0 {
			return err
		}
	}
}

// fdringEcho is the child's side of every fdring implementation.
func fdringEcho(ctl *childCtl, a pingpongArgs, buf []byte) error {
	ctx := context.Background()
	l, err := fdring.Listen(a.ReqPath)
	if err != nil {
		return err
	}
	defer l.Close()
	ctl.ready("")
	rx, err := fdring.AcceptContext[byte](ctx, l)
	if err != nil {
		return err
	}
	tx, err := fdring.DialContext[byte](ctx, filepath.Join(a.Dir, "resp"), pingpongRingCap)
	if err != nil {
		return err
	}
	read := func(d []byte) int {
		if len(d) < a.Msg {
			return 0
		}
		return copy(buf, d[:a.Msg])
	}
	fill := func(f []byte) int { return copy(f, buf) }
	if a.Impl == "fdring-wait" {
		err = waitEcho(ctx, tx, rx, read, fill)
	} else {
		err = loopEcho(ctx, tx, rx, read, fill, pingpongLoopSpin(a.Impl))
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, fdring.ErrPeerGone) && !errors.Is(err, fdring.ErrClosed) {
		return err
	}
	return nil
}

func loopEcho(ctx context.Context, tx *fdring.Sender[byte], rx *fdring.Receiver[byte], read, fill func([]byte) int,
	spin time.Duration) error {
	lp, err := loop.New(loop.WithSpin(spin))
	if err != nil {
		return err
	}
	var ferr error
	_, err = lp.Watch(rx, loop.HandlerFunc(func(loop.Token, loop.Event) {
		for {
			k, err := rx.Recv(read)
			if err == nil && k == 0 {
				return
			}
			if err == nil {
				_, err = tx.Send(fill)
			}
			if err != nil {
				ferr = err
				lp.Stop()
				return
			}
		}
	}), loop.Readable)
	if err != nil {
		return err
	}
	if err := lp.Run(ctx); err != nil {
		return err
	}
	return ferr
}

// waitEcho: RecvWait a message, SendWait it back, until the parent goes.
func waitEcho(ctx context.Context, tx *fdring.Sender[byte], rx *fdring.Receiver[byte], read, fill func([]byte) int) error {
	for {
		if err := recvWhole(ctx, rx, read); err != nil {
			return err
		}
		if _, err := tx.SendWait(ctx, fill); err != nil {
			return err
		}
	}
}
