// Package fdring is a single-producer single-consumer channel over a
// zero-copy ring buffer whose sides wake each other through file
// descriptors, only when they must.
//
// A channel is a ring (package ring) in memory the caller chooses, plus two
// wakeup fds (package notify): data-ready, which the producer signals and the
// consumer waits on, and space-ready, the other way round. A side signals
// only when its peer declared that it sleeps, and only once per sleep, so
// while both sides are busy no syscall is made at all: a Send or Recv with
// room or data costs a couple of atomic operations and a call of the caller's
// closure on ring memory.
//
//	tx, rx, err := fdring.New[Sample](1024)
//	n, err := tx.Send(func(free []Sample) int { ... return written })
//	n, err := rx.RecvWait(ctx, func(data []Sample) int { ... return consumed })
//
// Send and Recv never block; SendWait and RecvWait spin briefly, then sleep
// on their fd through Go's runtime poller (no OS thread is held) until the
// peer signals or the context ends. For event loops, each side exposes
// Fd, Ready, Arm and WaitClear (see package loop).
//
// Each side belongs to one goroutine at a time. Close may be called from any
// goroutine, and wakes a SendWait or RecvWait of its own side in progress.
//
// Element types must hold no pointers (no pointer, string, slice, map, chan,
// func or interface anywhere inside): the memory may be shared with another
// process and is invisible to the garbage collector. New, Dial and Accept
// reject other types with an error wrapping ErrBadType.
package fdring

import (
	"errors"

	"github.com/fdring/fdring/ring"
)

// Errors, all errors.Is-able through whatever wrapping they arrive in.
var (
	// ErrClosed: this side was closed, or the peer closed the receiving
	// side (a Send has nobody to read it).
	ErrClosed = errors.New("fdring: closed")
	// ErrPeerGone: the peer process died without closing; everything it
	// had committed was delivered first.
	ErrPeerGone = errors.New("fdring: peer gone")
	// ErrCorrupt: the shared ring state was inconsistent (a buggy or
	// hostile peer). The side stops; nothing is read out of bounds.
	ErrCorrupt = ring.ErrCorrupt
	// ErrTypeMismatch: the peer's element type differs (size, alignment
	// or layout fingerprint).
	ErrTypeMismatch = ring.ErrTypeMismatch
	// ErrBadType: the element type holds pointers or has size zero.
	ErrBadType = ring.ErrBadType
)
