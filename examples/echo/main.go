// Command echo is a TCP echo server on a group of fdring event loops, one
// per OS thread, with connections balanced across them. With -ipc it also
// serves fdnet clients (fdnet.Dial: a pair of shared-memory byte rings per
// connection) on a unix socket at that path: the same loop threads and the
// same handler serve both kinds of client.
//
//	go run ./examples/echo -addr 127.0.0.1:7000 -loops 2
//	go run ./examples/echo -addr 127.0.0.1:7000 -ipc /tmp/echo.sock
//
// It runs until SIGINT or SIGTERM, then closes every connection and prints
// what it served.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/fdring/fdring/fdnet"
	"github.com/fdring/fdring/handlers"
	"github.com/fdring/fdring/loop"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "TCP address to listen on (port 0 picks one)")
	ipc := flag.String("ipc", "", "also serve fdnet clients on a unix socket at this path")
	loops := flag.Int("loops", 2, "event loops (OS threads)")
	balance := flag.String("balance", "round-robin", "connection balancing: round-robin or least-conns")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := serve(ctx, config{addr: *addr, ipc: *ipc, loops: *loops, balance: *balance}, os.Stdout, func(tcp, ipc net.Addr) {
		fmt.Printf("echo: listening on %s with %d loops (%s)\n", tcp, *loops, *balance)
		if ipc != nil {
			fmt.Printf("echo: fdnet clients on %s, served by the same loops\n", ipc)
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// config is what the flags choose.
type config struct {
	addr, ipc string
	loops     int
	balance   string
}

// serve runs the echo server until ctx ends, then writes a summary to out.
// listening is called once the server accepts connections, with the bound
// TCP address and the fdnet socket's (nil without cfg.ipc).
func serve(ctx context.Context, cfg config, out io.Writer, listening func(tcp, ipc net.Addr)) error {
	var b loop.Balance
	switch cfg.balance {
	case "round-robin":
		b = loop.RoundRobin
	case "least-conns":
		b = loop.LeastConns
	default:
		return fmt.Errorf("unknown -balance %q", cfg.balance)
	}
	g, err := loop.NewGroup(cfg.loops, loop.WithBalance(b))
	if err != nil {
		return err
	}
	defer g.Close()
	echo := handlers.NewEcho()
	ln, err := g.Listen("tcp", cfg.addr, echo)
	if err != nil {
		return err
	}
	var iln *fdnet.Listener
	var served chan error // ServeFdnet's result, once iln is closed
	if cfg.ipc != "" {
		iln, err = fdnet.Listen(cfg.ipc)
		if err != nil {
			return err
		}
		defer iln.Close()
		served = make(chan error, 1)
		go func() { served <- handlers.ServeFdnet(g, iln, echo) }()
	}
	var ipcAddr net.Addr
	if iln != nil {
		ipcAddr = iln.Addr()
	}
	listening(ln.Addr(), ipcAddr)
	err = g.Run(ctx)
	if err != nil && ctx.Err() == nil {
		return err
	}
	if iln != nil {
		iln.Close()
		// loop.ErrClosed: a client came in while the loops shut down.
		if err := <-served; err != nil && !errors.Is(err, loop.ErrClosed) {
			return err
		}
	}
	// Close the Conns too before counting.
	if err := g.Close(); err != nil {
		return err
	}
	fmt.Fprintf(out, "echo: shut down after %d connections, %d bytes echoed\n", echo.Accepted(), echo.Bytes())
	return nil
}
