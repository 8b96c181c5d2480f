package notify_test

import (
	"context"
	"fmt"
	"time"

	"github.com/fdring/fdring/notify"
)

// A goroutine sleeps on a Waiter until its peer signals the notifier.
func ExampleWaiter() {
	n, err := notify.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	w, err := notify.NewWaiter(n.Fd())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()

	go n.Signal() // the peer: "there is work for you"

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("woken")
	// Output: woken
}
