package fdnet

import (
	"errors"
	"fmt"

	"github.com/fdring/fdring"
)

// Pipe returns a connected pair of Conns in this process: what one writes
// the other reads. Each direction is an fdring byte ring of WithBufferSize
// bytes (DefaultBufferSize unless given) with its own wakeup fds. Both
// addresses are "pipe". Close both Conns to release the fds.
func Pipe(opts ...Option) (*Conn, *Conn, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, nil, err
	}
	// a writes into ab and reads from ba; b the other way round.
	abTx, abRx, err := fdring.New[byte](cfg.bufSize, cfg.ringOptions()...)
	if err != nil {
		return nil, nil, fmt.Errorf("fdnet: pipe: %w", err)
	}
	baTx, baRx, err := fdring.New[byte](cfg.bufSize, cfg.ringOptions()...)
	if err != nil {
		return nil, nil, fmt.Errorf("fdnet: pipe: %w", errors.Join(err, abTx.Close(), abRx.Close()))
	}
	return newConn(abTx, baRx, pipeAddr, pipeAddr, &cfg), newConn(baTx, abRx, pipeAddr, pipeAddr, &cfg), nil
}
