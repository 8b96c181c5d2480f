// Package grpcsvc is the gRPC side of the conn suite, the gRPC tests and
// the grpcipc example: an implementation of grpc's own interop test
// service (google.golang.org/grpc/interop/grpc_testing, so no protoc is
// needed), and the few lines that serve it on a net.Listener or dial it
// through a transport.
//
// What the service does:
//
//	UnaryCall            echoes the request's payload; with no payload, it
//	                     returns ResponseSize bytes of a fixed pattern
//	StreamingOutputCall  one message per ResponseParameters entry, Size
//	                     bytes of the pattern each (up to MaxMessage)
//	StreamingInputCall   sums the payload sizes it receives
//	FullDuplexCall       echoes every request's payload as one response
//	EmptyCall            blocks until its context ends (the client cancels,
//	                     its deadline passes, or the connection dies)
//
// Every handler that ends because its context ended reports it through
// the Service's Event hook ("EmptyCall: context deadline exceeded"), which
// the tests read from the server process.
package grpcsvc

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// MaxMessage is the largest message StreamingOutputCall and UnaryCall
// make: 4 MiB, gRPC's default limit on a received message, less room for
// the framing.
const MaxMessage = 4<<20 - 1024

// Service implements grpc_testing.TestService (see the package doc).
type Service struct {
	testpb.UnimplementedTestServiceServer

	// Event, if not nil, is called when a handler ends because its
	// context ended, with the method and the context's error.
	Event func(string)

	body []byte // MaxMessage bytes of Pattern; read only
}

// NewService returns a Service with no Event hook.
func NewService() *Service { return &Service{body: Pattern(MaxMessage)} }

// Pattern returns n bytes of the content the service sends; a client can
// check what it got against it.
func Pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func (s *Service) event(method string, ctx context.Context) {
	if s.Event != nil {
		s.Event(fmt.Sprintf("%s: %v", method, ctx.Err()))
	}
}

func (s *Service) payload(size int32) (*testpb.Payload, error) {
	if size < 0 || int(size) > len(s.body) {
		return nil, status.Errorf(codes.InvalidArgument, "size %d outside 0..%d", size, len(s.body))
	}
	return &testpb.Payload{Body: s.body[:size]}, nil
}

// EmptyCall blocks until the call's context ends.
func (s *Service) EmptyCall(ctx context.Context, _ *testpb.Empty) (*testpb.Empty, error) {
	<-ctx.Done()
	s.event("EmptyCall", ctx)
	return nil, status.FromContextError(ctx.Err()).Err()
}

// UnaryCall echoes the request's payload, or returns ResponseSize bytes of
// the pattern when the request has none.
func (s *Service) UnaryCall(_ context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if p := req.GetPayload(); p != nil {
		return &testpb.SimpleResponse{Payload: p}, nil
	}
	p, err := s.payload(req.GetResponseSize())
	if err != nil {
		return nil, err
	}
	return &testpb.SimpleResponse{Payload: p}, nil
}

// StreamingOutputCall sends one message of the pattern per
// ResponseParameters entry, of its Size.
func (s *Service) StreamingOutputCall(req *testpb.StreamingOutputCallRequest,
	stream grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	for _, rp := range req.GetResponseParameters() {
		p, err := s.payload(rp.GetSize())
		if err != nil {
			return err
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: p}); err != nil {
			if stream.Context().Err() != nil {
				s.event("StreamingOutputCall", stream.Context())
			}
			return err
		}
	}
	return nil
}

// StreamingInputCall returns the sum of the payload sizes it received (an
// OutOfRange error past 2 GiB, which the response cannot hold).
func (s *Service) StreamingInputCall(stream grpc.ClientStreamingServer[testpb.StreamingInputCallRequest,
	testpb.StreamingInputCallResponse]) error {
	var total int32
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: total})
		}
		if err != nil {
			if stream.Context().Err() != nil {
				s.event("StreamingInputCall", stream.Context())
			}
			return err
		}
		n := len(req.GetPayload().GetBody())
		if n > math.MaxInt32-int(total) {
			return status.Errorf(codes.OutOfRange, "more than %d bytes in one stream", math.MaxInt32)
		}
		total += int32(n)
	}
}

// FullDuplexCall echoes every request's payload as one response, until
// the client closes its side.
func (s *Service) FullDuplexCall(stream grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest,
	testpb.StreamingOutputCallResponse]) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err == nil {
			err = stream.Send(&testpb.StreamingOutputCallResponse{Payload: req.GetPayload()})
		}
		if err != nil {
			if stream.Context().Err() != nil {
				s.event("FullDuplexCall", stream.Context())
			}
			return err
		}
	}
}

// NewServer returns a gRPC server (library defaults) with svc registered;
// the caller runs Serve on a listener.
func NewServer(svc *Service) *grpc.Server {
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, svc)
	return srv
}

// NewClient returns a client connection (library defaults, no TLS) whose
// every connection is made by dial; name only labels the target.
func NewClient(name string, dial func(ctx context.Context) (net.Conn, error)) (*grpc.ClientConn, error) {
	cc, err := grpc.NewClient("passthrough:///"+name,
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return dial(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("grpcsvc: client: %w", err)
	}
	return cc, nil
}
