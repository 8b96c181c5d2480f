package handlers_test

import (
	"fmt"
	"time"

	"github.com/fdring/fdring/handlers"
	"github.com/tidwall/evio"
)

// An evio echo server moves to fdring's loop by changing evio.Serve to
// handlers.ServeEvio. This one shuts itself down from its first Tick.
func ExampleServeEvio() {
	var events evio.Events
	events.Serving = func(srv evio.Server) evio.Action {
		fmt.Printf("serving on %d address(es) with %d loop(s)\n", len(srv.Addrs), srv.NumLoops)
		return evio.None
	}
	events.Data = func(c evio.Conn, in []byte) (out []byte, action evio.Action) {
		out = in
		return
	}
	events.Tick = func() (time.Duration, evio.Action) {
		fmt.Println("tick: shutting down")
		return 0, evio.Shutdown
	}
	if err := handlers.ServeEvio(events, "tcp://127.0.0.1:0"); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("stopped")
	// Output:
	// serving on 1 address(es) with 1 loop(s)
	// tick: shutting down
	// stopped
}
