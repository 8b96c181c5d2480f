package fdnet_test

import (
	"fmt"
	"io"

	"github.com/fdring/fdring/fdnet"
)

func ExamplePipe() {
	client, server, err := fdnet.Pipe(fdnet.WithBufferSize(64 << 10))
	if err != nil {
		panic(err)
	}
	defer client.Close()
	defer server.Close()

	go func() {
		// The server answers the request, then closes.
		req := make([]byte, 4)
		if _, err := io.ReadFull(server, req); err != nil {
			panic(err)
		}
		fmt.Fprintf(server, "%s to you too", req)
		server.Close() // the client reads io.EOF after the last byte
	}()

	io.WriteString(client, "ping")
	resp, err := io.ReadAll(client)
	fmt.Printf("%s %v %s\n", resp, err, client.RemoteAddr())
	// Output: ping to you too <nil> pipe
}
