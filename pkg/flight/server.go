package flight

import (
	"context"
	"encoding/json"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Action names served by DoAction.
const (
	ActionClusterStatus = "cluster-status" // coordinator: members and load
	ActionWorkerStatus  = "worker-status"  // worker: active streams, draining
)

// Service is the Flight service of one process: a coordinator, a worker or
// both (standalone). Calls meant for a missing role answer Unimplemented.
type Service struct {
	aflight.BaseFlightServer
	Coordinator *Coordinator
	Worker      *Worker
	// ClusterStatus renders the cluster-status action (coordinator only).
	ClusterStatus func(ctx context.Context) any
}

// GetFlightInfo implements the planning call.
func (s *Service) GetFlightInfo(ctx context.Context, desc *aflight.FlightDescriptor) (*aflight.FlightInfo, error) {
	if s.Coordinator == nil {
		return nil, status.Error(codes.Unimplemented, "this process is a worker; ask the coordinator for FlightInfo")
	}
	return s.Coordinator.GetFlightInfo(ctx, desc)
}

// GetSchema implements the schema call.
func (s *Service) GetSchema(ctx context.Context, desc *aflight.FlightDescriptor) (*aflight.SchemaResult, error) {
	if s.Coordinator == nil {
		return nil, status.Error(codes.Unimplemented, "this process is a worker; ask the coordinator for schemas")
	}
	return s.Coordinator.GetSchema(ctx, desc)
}

// DoGet implements the streaming call.
func (s *Service) DoGet(t *aflight.Ticket, stream aflight.FlightService_DoGetServer) error {
	if s.Worker == nil {
		return status.Error(codes.Unimplemented, "this process is a coordinator without a worker; DoGet on an endpoint location")
	}
	return s.Worker.DoGet(t, stream)
}

// ListActions implements the action listing.
func (s *Service) ListActions(_ *aflight.Empty, stream aflight.FlightService_ListActionsServer) error {
	if s.Coordinator != nil {
		if err := stream.Send(&aflight.ActionType{Type: ActionClusterStatus, Description: "members of the cluster, their state and load (JSON)"}); err != nil {
			return err
		}
	}
	if s.Worker != nil {
		return stream.Send(&aflight.ActionType{Type: ActionWorkerStatus, Description: "this worker's active streams (JSON)"})
	}
	return nil
}

// WorkerStatus is the worker-status action's answer.
type WorkerStatus struct {
	Active   int64 `json:"active"`
	Draining bool  `json:"draining"`
}

// DoAction implements the actions above.
func (s *Service) DoAction(a *aflight.Action, stream aflight.FlightService_DoActionServer) error {
	var body any
	switch {
	case a.GetType() == ActionClusterStatus && s.Coordinator != nil && s.ClusterStatus != nil:
		body = s.ClusterStatus(stream.Context())
	case a.GetType() == ActionSplit && s.Coordinator != nil:
		body, err := s.Coordinator.Split(a.GetBody())
		if err != nil {
			return err
		}
		return stream.Send(&aflight.Result{Body: body})
	case a.GetType() == ActionWorkerStatus && s.Worker != nil:
		body = WorkerStatus{Active: s.Worker.Active(), Draining: s.Worker.draining.Load()}
	default:
		return status.Errorf(codes.Unimplemented, "unknown action %q", a.GetType())
	}
	js, err := json.Marshal(body)
	if err != nil {
		return status.Errorf(codes.Internal, "encode %s: %v", a.GetType(), err)
	}
	return stream.Send(&aflight.Result{Body: js})
}

// NewServer returns a Flight server for svc. Options carry TLS credentials
// and auth interceptors from cmd.
func NewServer(svc *Service, middleware []aflight.ServerMiddleware, opts ...grpc.ServerOption) aflight.Server {
	srv := aflight.NewServerWithMiddleware(middleware, opts...)
	srv.RegisterFlightService(svc)
	return srv
}
