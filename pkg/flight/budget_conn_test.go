package flight

import (
	"context"
	"net"
	"testing"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/pipeline"
	"github.com/imageflight/imageflight/pkg/planner/plannertest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// serveRig serves r's worker over gRPC on loopback and returns a dial
// function for clients with small fixed flow-control windows, so that a
// client that stops reading leaves the server's batches queued in the
// transport.
func serveRig(t *testing.T, r *rig) func() *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(&Service{Worker: r.work}, nil)
	srv.InitListener(lis)
	go srv.Serve()
	t.Cleanup(srv.Shutdown)
	return func() *grpc.ClientConn {
		cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
		if err != nil {
			t.Fatal(err)
		}
		return cc
	}
}

// TestBudgetReturnedWhenTheClientVanishes: a client that reads one batch
// and goes away (its connection closes, as when its process dies) leaves
// batches queued in gRPC's transport that the transport never frees; the
// budget must come back all the same, and an image larger than the whole
// budget — which waits for an empty budget — must be served afterwards.
func TestBudgetReturnedWhenTheClientVanishes(t *testing.T) {
	tests := []struct {
		name    string
		side    int
		budget  int64
		clients int
	}{
		{"large images", 512, 64 << 20, 3},
		{"small images, several rounds", 64, 64 << 20, 6},
		{"images larger than the budget", 512, 1 << 20, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wc := pipeline.DefaultWorkerConfig()
			wc.MemoryBudget, wc.BatchBytes, wc.Parallelism = tc.budget, 1, 2
			r := newRig(t, plannertest.RGBTree(t, 12, tc.side), wc)
			dial := serveRig(t, r)
			info := r.Plan(t, `{"path": "`+plannertest.Base+`", "numPartitions": 1}`)
			ticket := info.GetEndpoint()[0].GetTicket()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			for i := range tc.clients {
				cc := dial()
				s, err := aflight.NewFlightServiceClient(cc).DoGet(ctx, ticket)
				if err != nil {
					t.Fatal(err)
				}
				for n := 0; n < 2; { // the schema and one batch
					d, err := s.Recv()
					if err != nil {
						t.Fatalf("client %d: %v", i, err)
					}
					if len(d.GetDataBody()) > 0 || n == 0 {
						n++
					}
				}
				// The worker has queued more than the client read.
				plannertest.WaitFor(t, "batches queued beyond the client's reads", func() bool { u, _ := r.work.Memory(); return u > 0 })
				cc.Close() // the client vanishes without cancelling its call
			}
			plannertest.WaitFor(t, "streams ended", func() bool { return r.work.Active() == 0 })
			plannertest.WaitFor(t, "budget back to zero with no stream in flight", func() bool { u, _ := r.work.Memory(); return u == 0 })

			// The worker still serves everything, alone-in-the-budget images too.
			if n := readTicket(ctx, t, dial, ticket); n != 12 {
				t.Errorf("a later client read %d batches, want 12", n)
			}
		})
	}
}

// readTicket reads a ticket to its end on a new connection and counts its
// data messages.
func readTicket(ctx context.Context, t *testing.T, dial func() *grpc.ClientConn, ticket *aflight.Ticket) int {
	t.Helper()
	cc := dial()
	defer cc.Close()
	s, err := aflight.NewFlightServiceClient(cc).DoGet(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	return drain(t, s)
}
