package loop

import "strings"

// Interest is the set of readiness kinds a plain fd's registration (WatchFd)
// asks for. The zero Interest asks for nothing: the registration stays (its
// Token stays valid) but its handler is not called until Modify asks for
// something again. Rings have an on/off interest instead (SetRingActive).
type Interest uint8

const (
	// Readable asks for readable events.
	Readable Interest = 1 << iota
	// Writable asks for writable events.
	Writable
)

// edgeTriggered is internal: a ring source whose fd may be registered
// edge-triggered (see RingSource.EdgeTriggered). Backends that cannot ignore it.
const edgeTriggered Interest = 1 << 7

// IsReadable reports whether i includes Readable.
func (i Interest) IsReadable() bool { return i&Readable != 0 }

// IsWritable reports whether i includes Writable.
func (i Interest) IsWritable() bool { return i&Writable != 0 }

// String names the interest: "none", "readable", "writable" or
// "readable|writable".
func (i Interest) String() string {
	switch i & (Readable | Writable) {
	case 0:
		return "none"
	case Readable:
		return "readable"
	case Writable:
		return "writable"
	default:
		return "readable|writable"
	}
}

// Event is the set of readiness flags delivered to a Handler. The Readable
// and Writable bits line up with Interest. A plain fd's handler gets
// readable, writable, hangup and error; a ring's handler gets EventReady,
// plus EventError when clearing its fd failed.
type Event uint8

const (
	// EventReadable: the source may be read without blocking (may be spurious).
	EventReadable Event = 1 << iota
	// EventWritable: the source may be written without blocking (may be spurious).
	EventWritable
	// EventHangup: the peer hung up, or shut its write side down (a
	// half-close, reported with Readable interest on Linux: EPOLLRDHUP,
	// POLLRDHUP). Reading drains what is left, then sees EOF.
	EventHangup
	// EventError: the source reported an error condition (for a ring source:
	// WaitClear failed). The next read or write returns it.
	EventError
	// EventReady: a ring source is Ready: it has work (data for a
	// receiver, space for a sender) or an end to observe. Only ring
	// handlers get it.
	EventReady
)

// IsReadable reports whether e includes EventReadable.
func (e Event) IsReadable() bool { return e&EventReadable != 0 }

// IsWritable reports whether e includes EventWritable.
func (e Event) IsWritable() bool { return e&EventWritable != 0 }

// IsHangup reports whether e includes EventHangup.
func (e Event) IsHangup() bool { return e&EventHangup != 0 }

// IsError reports whether e includes EventError.
func (e Event) IsError() bool { return e&EventError != 0 }

// IsReady reports whether e includes EventReady.
func (e Event) IsReady() bool { return e&EventReady != 0 }

// String names the flags of e, joined by "|" ("none" for no flag).
func (e Event) String() string {
	if e == 0 {
		return "none"
	}
	var parts []string
	for _, f := range [...]struct {
		bit  Event
		name string
	}{{EventReadable, "readable"}, {EventWritable, "writable"}, {EventHangup, "hangup"}, {EventError, "error"}, {EventReady, "ready"}} {
		if e&f.bit != 0 {
			parts = append(parts, f.name)
		}
	}
	return strings.Join(parts, "|")
}
