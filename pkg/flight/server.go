package flight

import (
	"context"
	"encoding/json"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/imageflight/imageflight/pkg/flightcodec"
	"github.com/imageflight/imageflight/pkg/pipeline"
	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/wire"
	"google.golang.org/grpc"
)

// Service is the Flight service of one process: a coordinator, a worker or
// both (standalone). It is the gRPC edge: every error it returns went
// through toStatus. Calls meant for a missing role answer Unimplemented.
type Service struct {
	aflight.BaseFlightServer
	Coordinator *planner.Coordinator
	Worker      *pipeline.Worker
	// ClusterStatus renders the cluster-status action (coordinator only).
	ClusterStatus func(ctx context.Context) wire.ClusterStatus
}

// GetFlightInfo implements the planning call.
func (s *Service) GetFlightInfo(ctx context.Context, desc *aflight.FlightDescriptor) (info *aflight.FlightInfo, err error) {
	if s.Coordinator == nil {
		return nil, toStatus(wire.Errorf(wire.KindUnimplemented, "this process is a worker; ask the coordinator for FlightInfo"))
	}
	defer func() { plansTotal.WithLabelValues(codeLabel(err)).Inc() }()
	info, err = s.Coordinator.GetFlightInfo(ctx, desc)
	return info, toStatus(err)
}

// GetSchema implements the schema call.
func (s *Service) GetSchema(ctx context.Context, desc *aflight.FlightDescriptor) (*aflight.SchemaResult, error) {
	if s.Coordinator == nil {
		return nil, toStatus(wire.Errorf(wire.KindUnimplemented, "this process is a worker; ask the coordinator for schemas"))
	}
	res, err := s.Coordinator.GetSchema(ctx, desc)
	return res, toStatus(err)
}

// DoGet implements the streaming call.
func (s *Service) DoGet(t *aflight.Ticket, stream aflight.FlightService_DoGetServer) (err error) {
	if s.Worker == nil {
		return toStatus(wire.Errorf(wire.KindUnimplemented, "this process is a coordinator without a worker; DoGet on an endpoint location"))
	}
	defer func() { streamsTotal.WithLabelValues(codeLabel(err)).Inc() }()
	ctx := stream.Context()
	sp, err := s.Worker.Open(ctx, t.GetTicket())
	if err != nil {
		return toStatus(err)
	}
	defer sp.Close()
	guard, ctx := newGuardedWriter(ctx, flightcodec.NewWriter(stream, sp.Schema()), s.Worker.Config().SendTimeout)
	defer guard.Close()
	err = sp.Run(pipeline.WithConn(ctx, connDone(ctx)), guard.send)
	if tripped := guard.tripped(); tripped != nil {
		err = tripped // whichever wait the stalled stream was in
	}
	return toStatus(err)
}

// ListActions implements the action listing.
func (s *Service) ListActions(_ *aflight.Empty, stream aflight.FlightService_ListActionsServer) error {
	if s.Coordinator != nil {
		if err := stream.Send(&aflight.ActionType{Type: wire.ActionClusterStatus, Description: "members of the cluster, their state and load (JSON)"}); err != nil {
			return err
		}
	}
	if s.Worker != nil {
		return stream.Send(&aflight.ActionType{Type: wire.ActionWorkerStatus, Description: "this worker's active streams (JSON)"})
	}
	return nil
}

// DoAction implements the actions of wire.
func (s *Service) DoAction(a *aflight.Action, stream aflight.FlightService_DoActionServer) error {
	body, err := s.action(stream.Context(), a)
	if err != nil {
		return toStatus(err)
	}
	return stream.Send(&aflight.Result{Body: body})
}

func (s *Service) action(ctx context.Context, a *aflight.Action) ([]byte, error) {
	var body any
	switch {
	case a.GetType() == wire.ActionClusterStatus && s.Coordinator != nil && s.ClusterStatus != nil:
		body = s.ClusterStatus(ctx)
	case a.GetType() == wire.ActionSplit && s.Coordinator != nil:
		return s.Coordinator.Split(a.GetBody())
	case a.GetType() == wire.ActionWorkerStatus && s.Worker != nil:
		st := s.Worker.Status(wire.WantDetail(a.GetBody()))
		addCounters(&st)
		body = st
	default:
		return nil, wire.Errorf(wire.KindUnimplemented, "unknown action %q", a.GetType())
	}
	js, err := json.Marshal(body)
	if err != nil {
		return nil, wire.Wrap(wire.KindInternal, err, "encode "+a.GetType())
	}
	return js, nil
}

// writeBufferBytes is how much gRPC gathers per write syscall: a DoGet
// sends megabytes in 16 KiB HTTP/2 frames, and grpc-go's default (32 KiB)
// costs a syscall per two frames. 1 MiB cut the transport ladder's CPU per
// GB by 10-20 % (test/bench/README.md, "Transport ladder"); 4 MiB did no
// better.
const writeBufferBytes = 1 << 20

// TransportOptions are the gRPC transport sizes NewServer uses. grpc-go
// returns a connection's write buffer to a pool after each flush, so an
// idle connection holds none of it.
func TransportOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.WriteBufferSize(writeBufferBytes)}
}

// NewServer returns a Flight server for svc. Options carry TLS credentials
// and auth interceptors from pkg/server. The server encodes with
// flightcodec.Codec, so DoGet's batches reach the transport without being
// serialized into copies (the bytes on the wire are standard FlightData),
// and tells streams when their connection ends (connLife).
func NewServer(svc *Service, middleware []aflight.ServerMiddleware, opts ...grpc.ServerOption) aflight.Server {
	opts = append(append([]grpc.ServerOption{grpc.ForceServerCodecV2(flightcodec.Codec{}), grpc.StatsHandler(connLife{})}, TransportOptions()...), opts...)
	srv := aflight.NewServerWithMiddleware(middleware, opts...)
	srv.RegisterFlightService(svc)
	return srv
}
