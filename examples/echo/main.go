// Command echo is a TCP echo server on a group of fdring event loops, one
// per OS thread, with connections balanced across them.
//
//	go run ./examples/echo -addr 127.0.0.1:7000 -loops 2
//
// It runs until SIGINT or SIGTERM, then closes every connection and prints
// what it served.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/fdring/fdring/handlers"
	"github.com/fdring/fdring/loop"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "TCP address to listen on (port 0 picks one)")
	loops := flag.Int("loops", 2, "event loops (OS threads)")
	balance := flag.String("balance", "round-robin", "connection balancing: round-robin or least-conns")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := serve(ctx, *addr, *loops, *balance, func(a net.Addr) {
		fmt.Printf("echo: listening on %s with %d loops (%s)\n", a, *loops, *balance)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// serve runs the echo server until ctx ends; listening is called with the
// bound address once the server accepts connections.
func serve(ctx context.Context, addr string, loops int, balance string, listening func(net.Addr)) error {
	var b loop.Balance
	switch balance {
	case "round-robin":
		b = loop.RoundRobin
	case "least-conns":
		b = loop.LeastConns
	default:
		return fmt.Errorf("unknown -balance %q", balance)
	}
	g, err := loop.NewGroup(loops, loop.WithBalance(b))
	if err != nil {
		return err
	}
	defer g.Close()
	echo := handlers.NewEcho()
	ln, err := g.Listen("tcp", addr, echo)
	if err != nil {
		return err
	}
	listening(ln.Addr())
	err = g.Run(ctx)
	if err != nil && ctx.Err() == nil {
		return err
	}
	fmt.Printf("echo: shut down after %d connections, %d bytes echoed\n", echo.Accepted(), echo.Bytes())
	return nil
}
