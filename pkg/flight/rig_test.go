package flight

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/imageflight/imageflight/pkg/pipeline"
	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/planner/plannertest"
	"github.com/imageflight/imageflight/pkg/wire"
)

// rig is a worker beside a coordinator over an in-memory tree
// (plannertest), for the edge's tests.
type rig struct {
	*plannertest.Cluster
	work *pipeline.Worker
}

func newRig(t *testing.T, files map[string][]byte, wc pipeline.WorkerConfig) *rig {
	t.Helper()
	r := &rig{Cluster: plannertest.New(t, files, planner.DefaultCoordinatorConfig(), "")}
	var err error
	if r.work, err = pipeline.NewWorker(wc, pipeline.WorkerDeps{Roots: r.Roots, Secret: plannertest.Secret, Mounts: r.Mounts, Peers: plannertest.Caller{C: r.Coord}, Logger: r.Logger}); err != nil {
		t.Fatal(err)
	}
	return r
}

// stream runs a ticket through the worker in-process, for its error.
func (r *rig) stream(ticket []byte) error {
	sp, err := r.work.Open(context.Background(), ticket)
	if err != nil {
		return err
	}
	defer sp.Close()
	return sp.Run(context.Background(), func(arrow.RecordBatch, wire.BatchMeta) error { return nil })
}
