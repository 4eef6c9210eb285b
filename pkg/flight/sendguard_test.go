package flight

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestSendTimeoutFreesAStalledStream: a client that opens DoGet and never
// reads loses its stream after the send timeout, and its slot serves the
// next client.
func TestSendTimeoutFreesAStalledStream(t *testing.T) {
	wc := DefaultWorkerConfig()
	// The send timeout also applies to the client that does read: under
	// -race at load 20 a reader paused longer than 200 ms and lost its
	// stream, so the timeout is far above a reader's pauses (the stalled
	// client costs the test that long).
	wc.SendTimeout, wc.MaxStreams, wc.BatchBytes = 10*time.Second, 1, 1
	r := newRig(t, budgetTree(t, 6, 512), DefaultCoordinatorConfig(), wc, "") // 768 KiB rows
	info := r.plan(t, `{"path": "`+testBase+`", "numPartitions": 1}`)
	ticket := info.GetEndpoint()[0].GetTicket()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(&Service{Worker: r.work}, nil)
	srv.InitListener(lis)
	go srv.Serve()
	defer srv.Shutdown()
	// Small fixed windows (no BDP growth): a client that does not read
	// blocks the server's Send after a few hundred KiB.
	fc, err := aflight.NewClientWithMiddleware(lis.Addr().String(), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stalled, err := fc.DoGet(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stalled stream to take the only slot", func() bool { return r.work.Active() == 1 })
	waitFor(t, "the stalled stream to be closed", func() bool { return r.work.Active() == 0 && len(r.work.streamSlots) == 0 })

	next, err := fc.DoGet(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	if n := drain(t, next); n != 6 {
		t.Errorf("next client read %d batches, want 6", n)
	}
	for {
		_, err := stalled.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("stalled client finally reads %v, want DeadlineExceeded", err)
		}
		break
	}
}

// drain reads a DoGet stream to its end and counts its data messages.
func drain(t *testing.T, s aflight.FlightService_DoGetClient) int {
	t.Helper()
	n := 0
	for {
		d, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(d.GetDataBody()) > 0 {
			n++
		}
	}
}
