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
	if err := run(*addr, *loops, *balance); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

func run(addr string, loops int, balance string) error {
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
	fmt.Printf("echo: listening on %s with %d loops (%s)\n", ln.Addr(), loops, balance)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = g.Run(ctx)
	if err != nil && ctx.Err() == nil {
		return err
	}
	fmt.Printf("echo: shut down after %d connections, %d bytes echoed\n", echo.Accepted(), echo.Bytes())
	return nil
}
