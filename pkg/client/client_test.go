package client

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/imageflight/imageflight/pkg/wire"
)

// scripted is a Flight server standing in for a worker: it serves a split
// of `rows` one-row batches, honouring the resume suffix, and can fail
// after some batches, hang, or refuse outright.
type scripted struct {
	aflight.BaseFlightServer
	rows      int
	failAfter int        // batches sent before failing (-1: never)
	failCode  codes.Code // how it fails
	hang      bool       // stop sending without failing
	mu        sync.Mutex
	tickets   []string
}

var schema = arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)

func (s *scripted) DoGet(t *aflight.Ticket, stream aflight.FlightService_DoGetServer) error {
	s.mu.Lock()
	s.tickets = append(s.tickets, string(t.GetTicket()))
	s.mu.Unlock()
	_, skip, err := wire.ParseResume(t.GetTicket())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if s.failAfter == 0 {
		return status.Error(s.failCode, "refused")
	}
	wr := aflight.NewRecordWriter(stream, ipc.WithSchema(schema))
	defer wr.Close()
	for i, sent := skip, 0; i < s.rows; i, sent = i+1, sent+1 {
		if sent == s.failAfter {
			if s.hang {
				<-stream.Context().Done()
				return stream.Context().Err()
			}
			return status.Error(s.failCode, "lost mid-stream")
		}
		b := array.NewInt64Builder(memory.DefaultAllocator)
		b.Append(int64(i))
		col := b.NewArray()
		rec := array.NewRecordBatch(schema, []arrow.Array{col}, 1)
		err := wr.WriteWithAppMetadata(rec, wire.AppendBatchMeta(nil, wire.BatchMeta{Next: i + 1}))
		rec.Release()
		col.Release()
		b.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

func serve(t *testing.T, s *scripted) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := aflight.NewServerWithMiddleware(nil)
	srv.RegisterFlightService(s)
	srv.InitListener(lis)
	go srv.Serve()
	t.Cleanup(srv.Shutdown)
	return "grpc://" + lis.Addr().String()
}

func endpoint(locs ...string) *aflight.FlightEndpoint {
	ep := &aflight.FlightEndpoint{Ticket: &aflight.Ticket{Ticket: []byte("tkt.sig")}}
	for _, l := range locs {
		ep.Location = append(ep.Location, &aflight.Location{Uri: l})
	}
	return ep
}

func TestReadEndpointFailsOverAndResumes(t *testing.T) {
	tests := []struct {
		name          string
		first         *scripted
		wantFailovers int
		wantErr       codes.Code // OK: the read completes
		wantSecond    string     // ticket the second location got ("": not asked)
	}{
		{"clean", &scripted{rows: 5, failAfter: -1}, 0, codes.OK, ""},
		{"lost after 2 batches", &scripted{rows: 5, failAfter: 2, failCode: codes.Unavailable}, 1, codes.OK, "tkt.sig;skip=2"},
		{"unavailable before any batch", &scripted{rows: 5, failAfter: 0, failCode: codes.Unavailable}, 1, codes.OK, "tkt.sig"},
		{"plan expired: not retried", &scripted{rows: 5, failAfter: 0, failCode: codes.FailedPrecondition}, 1, codes.FailedPrecondition, ""},
		{"bad ticket: not retried", &scripted{rows: 5, failAfter: 0, failCode: codes.InvalidArgument}, 1, codes.InvalidArgument, ""},
		{"hung worker: watchdog fails over", &scripted{rows: 5, failAfter: 3, hang: true}, 1, codes.OK, "tkt.sig;skip=3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			second := &scripted{rows: 5, failAfter: -1}
			cfg := DefaultConfig("grpc://unused:1")
			cfg.StallTimeout = 5 * time.Second // only the hung case waits for it; a busy machine may pause a healthy stream for a second
			c := New(cfg)
			defer c.Close()
			var got []int64
			fo, err := c.ReadEndpoint(context.Background(), 0, endpoint(serve(t, tc.first), serve(t, second)), func(b Batch) error {
				got = append(got, b.Record.Column(0).(*array.Int64).Value(0))
				return nil
			})
			if status.Code(errors.Unwrap(errors.Unwrap(err))) != tc.wantErr && !strings.Contains(err.Error(), tc.wantErr.String()) {
				t.Fatalf("error %v, want code %v", err, tc.wantErr)
			}
			if fo != tc.wantFailovers {
				t.Errorf("%d failovers, want %d", fo, tc.wantFailovers)
			}
			if tc.wantErr == codes.OK && (len(got) != 5 || got[0] != 0 || got[4] != 4) {
				t.Errorf("rows %v, want 0..4 exactly once", got)
			}
			if asked := strings.Join(second.tickets, ","); asked != tc.wantSecond {
				t.Errorf("second location got %q, want %q", asked, tc.wantSecond)
			}
		})
	}
}

func TestCallbackErrorsAreNotRetried(t *testing.T) {
	second := &scripted{rows: 3, failAfter: -1}
	c := New(DefaultConfig("grpc://unused:1"))
	defer c.Close()
	boom := errors.New("caller gave up")
	_, err := c.ReadEndpoint(context.Background(), 0, endpoint(serve(t, &scripted{rows: 3, failAfter: -1}), serve(t, second)),
		func(Batch) error { return boom })
	if !errors.Is(err, boom) || len(second.tickets) != 0 {
		t.Errorf("callback error %v; second location asked %d times", err, len(second.tickets))
	}
}

func TestLocationsAndCredentials(t *testing.T) {
	cfg := DefaultConfig("grpc+tls://coordinator:1")
	cfg.Token = "secret-token"
	c := New(cfg)
	defer c.Close()
	if _, err := c.conn("grpc://worker:1"); err == nil || !strings.Contains(err.Error(), "plaintext") {
		t.Errorf("token over plaintext to a worker of a TLS cluster: %v", err)
	}
	if _, err := c.conn("http://worker:1"); wire.KindOf(err) != wire.KindInvalidArgument {
		t.Errorf("http location: %v", err)
	}
	bad := DefaultConfig("grpc://c:1")
	bad.TLSCAFile = "/nonexistent/ca.pem"
	if _, err := New(bad).conn("grpc+tls://w:1"); err == nil || !strings.Contains(err.Error(), "TLS CA file") {
		t.Errorf("missing CA file: %v", err)
	}
}
