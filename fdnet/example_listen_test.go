package fdnet_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/fdring/fdring/fdnet"
)

func ExampleListen() {
	dir, err := os.MkdirTemp("", "fdnet-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.sock")

	// The server: usually another process; any net.Listener user works.
	l, err := fdnet.Listen(path)
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c) // echo until the client's CloseWrite
	}()

	// The client.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := fdnet.Dial(ctx, path)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	io.WriteString(c, "over shared memory")
	c.CloseWrite()
	echo, err := io.ReadAll(c)
	fmt.Printf("%s %v %s\n", echo, err, c.RemoteAddr().Network())
	// Output: over shared memory <nil> fdring
}
