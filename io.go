package fdring

import (
	"context"
	"errors"
	"io"
)

var (
	_ io.WriteCloser = (*Writer)(nil)
	_ io.ReaderFrom  = (*Writer)(nil)
	_ io.ReadCloser  = (*Reader)(nil)
	_ io.WriterTo    = (*Reader)(nil)
)

// Writer adapts a byte Sender to io.Writer, io.ReaderFrom and io.Closer.
// Write blocks until every byte is in the ring (or the receiver closes);
// ReadFrom reads straight into ring memory, so io.Copy from a file or a
// socket into a Writer copies each byte once.
type Writer struct {
	s   *Sender[byte]
	ctx context.Context
}

// NewWriter returns a Writer over s. Closing the Writer closes s.
func NewWriter(s *Sender[byte]) *Writer { return &Writer{s: s, ctx: context.Background()} }

// WithContext returns a copy of w whose blocking calls end when ctx ends.
func (w *Writer) WithContext(ctx context.Context) *Writer {
	return &Writer{s: w.s, ctx: ctx}
}

// Write copies p into the ring, waiting for room as needed.
func (w *Writer) Write(p []byte) (int, error) {
	if len(p) == 0 && w.s.tx.Closed() {
		return 0, ErrClosed
	}
	done := 0
	for done < len(p) {
		n, err := w.s.SendWait(w.ctx, func(free []byte) int { return copy(free, p[done:]) })
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// ReadFrom reads from src straight into ring memory until io.EOF, waiting
// for room as needed. It returns the number of bytes moved.
func (w *Writer) ReadFrom(src io.Reader) (int64, error) {
	var total int64
	for {
		free, err := w.s.Reserve()
		if err != nil {
			return total, err
		}
		if len(free) == 0 {
			if err := w.s.Wait(w.ctx); err != nil {
				return total, err
			}
			continue
		}
		n, rerr := src.Read(free)
		if n < 0 || n > len(free) {
			return total, errors.New("fdring: ReadFrom: reader returned an invalid count")
		}
		if err := w.s.Commit(n); err != nil {
			return total + int64(n), err
		}
		total += int64(n)
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// Close closes the Sender: the reader sees io.EOF after the last byte.
func (w *Writer) Close() error { return w.s.Close() }

// Reader adapts a byte Receiver to io.Reader and io.WriterTo. WriteTo hands
// ring memory straight to the destination's Write, so io.Copy from a Reader
// to a socket copies each byte once.
type Reader struct {
	r   *Receiver[byte]
	ctx context.Context
}

// NewReader returns a Reader over r.
func NewReader(r *Receiver[byte]) *Reader { return &Reader{r: r, ctx: context.Background()} }

// WithContext returns a copy of rd whose blocking calls end when ctx ends.
func (rd *Reader) WithContext(ctx context.Context) *Reader {
	return &Reader{r: rd.r, ctx: ctx}
}

// Read copies up to len(p) bytes out of the ring, waiting until at least
// one is there. It returns io.EOF after the sender closed and every byte
// was read.
func (rd *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		if rd.r.rx.Closed() {
			return 0, ErrClosed
		}
		return 0, nil
	}
	for {
		n, err := rd.r.RecvWait(rd.ctx, func(data []byte) int { return copy(p, data) })
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// WriteTo writes everything up to the end of the stream to dst, straight
// from ring memory. A clean end (io.EOF) returns a nil error.
func (rd *Reader) WriteTo(dst io.Writer) (int64, error) {
	var total int64
	for {
		data, err := rd.r.Peek()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if len(data) == 0 {
			if err := rd.r.Wait(rd.ctx); err != nil && err != io.EOF {
				return total, err
			}
			continue
		}
		n, werr := dst.Write(data)
		if n < 0 || n > len(data) {
			return total, errors.New("fdring: WriteTo: writer returned an invalid count")
		}
		total += int64(n)
		if err := rd.r.Release(n); err != nil {
			return total, err
		}
		if werr != nil {
			return total, werr
		}
		if n < len(data) {
			return total, io.ErrShortWrite
		}
	}
}

// Close closes the Receiver.
func (rd *Reader) Close() error { return rd.r.Close() }
