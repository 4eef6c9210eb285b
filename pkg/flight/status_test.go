package flight

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/pipeline"
	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/planner/plannertest"
	"github.com/imageflight/imageflight/pkg/wire"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorsCarryKinds(t *testing.T) {
	r := newRig(t, plannertest.Tree(t), pipeline.DefaultWorkerConfig())
	expired, err := wire.NewSigner(plannertest.Secret).Sign(&wire.Ticket{Plan: "p", Base: plannertest.Base, Expires: time.Now().Unix() - 1})
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := wire.NewSigner([]byte("another cluster's secret")).Sign(&wire.Ticket{Plan: "p", Base: plannertest.Base, Expires: time.Now().Unix() + 60})
	outside, _ := wire.NewSigner(plannertest.Secret).Sign(&wire.Ticket{Plan: "p", Base: "hdfs://mem/elsewhere", Expires: time.Now().Unix() + 60})
	escape, _ := wire.NewSigner(plannertest.Secret).Sign(&wire.Ticket{Plan: "p", Base: plannertest.Base, Expires: time.Now().Unix() + 60,
		Files: []wire.TicketFile{{Rel: "../etc/passwd"}}})
	plan := func(cmd string) error {
		_, err := r.Coord.GetFlightInfo(context.Background(), plannertest.Descriptor(cmd))
		return err
	}
	stream := r.stream
	tests := []struct {
		name string
		err  error
		kind wire.Kind
		code codes.Code
	}{
		{"bad key", plan(`{"path": "/d", "numPartitions": 0}`), wire.KindInvalidArgument, codes.InvalidArgument},
		{"not a command", func() error { _, err := r.Coord.GetFlightInfo(context.Background(), nil); return err }(), wire.KindInvalidArgument, codes.InvalidArgument},
		{"outside the roots", plan(`{"path": "hdfs://mem/elsewhere"}`), wire.KindPermission, codes.PermissionDenied},
		{"missing path", plan(`{"path": "hdfs://mem/data/nope"}`), wire.KindNotFound, codes.NotFound},
		{"expired ticket", stream(expired), wire.KindExpired, codes.FailedPrecondition},
		{"foreign ticket", stream(foreign), wire.KindPermission, codes.PermissionDenied},
		{"garbage ticket", stream([]byte("x")), wire.KindInvalidArgument, codes.InvalidArgument},
		{"ticket base outside the roots", stream(outside), wire.KindPermission, codes.PermissionDenied},
		{"ticket file escaping its base", stream(escape), wire.KindPermission, codes.PermissionDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if wire.KindOf(tc.err) != tc.kind || status.Code(toStatus(tc.err)) != tc.code {
				t.Errorf("%v: kind %v code %v, want %v %v", tc.err, wire.KindOf(tc.err), status.Code(toStatus(tc.err)), tc.kind, tc.code)
			}
		})
	}
	noWorkers, err := planner.NewCoordinator(planner.DefaultCoordinatorConfig(), planner.CoordinatorDeps{Roots: r.Roots, Secret: plannertest.Secret,
		Mounts: r.Mounts, Workers: plannertest.StaticWorkers{}, Logger: r.Logger})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noWorkers.GetFlightInfo(context.Background(), plannertest.Descriptor(`{"path": "`+plannertest.Base+`"}`)); wire.KindOf(err) != wire.KindUnavailable {
		t.Errorf("no workers: %v", err)
	}
}

func TestToStatusKeepsGRPCStatuses(t *testing.T) {
	st := status.Error(codes.ResourceExhausted, "grpc said so")
	if toStatus(st) != st {
		t.Error("a grpc status was rewritten")
	}
	wrapped := wire.Wrap(wire.KindExpired, st, "fetch split")
	if status.Code(toStatus(wrapped)) != codes.FailedPrecondition {
		t.Errorf("a kinded error wrapping a status: %v", toStatus(wrapped))
	}
	if toStatus(nil) != nil || status.Code(toStatus(errors.New("io"))) != codes.Unavailable {
		t.Error("nil or unclassified errors mapped wrongly")
	}
	if codeLabel(nil) != "OK" || codeLabel(wire.Errorf(wire.KindNotFound, "x")) != "NotFound" {
		t.Error("metric labels")
	}
}
