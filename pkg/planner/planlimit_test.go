package planner_test

import (
	"context"
	"io/fs"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/planner"
	"github.com/imageflight/imageflight/pkg/planner/plannertest"
	"github.com/imageflight/imageflight/pkg/wire"
)

// gatedFS blocks every listing until gate closes, counting listings begun.
type gatedFS struct {
	hdfsio.FileSystem
	gate    chan struct{}
	started *atomic.Int64
}

func (g gatedFS) ReadDir(ctx context.Context, name string) ([]fs.FileInfo, error) {
	g.started.Add(1)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.FileSystem.ReadDir(ctx, name)
}

func TestConcurrentPlansAreBounded(t *testing.T) {
	cc := planner.DefaultCoordinatorConfig()
	cc.MaxConcurrentPlans = 1
	r := plannertest.New(t, plannertest.Tree(t), cc, "")
	gate := make(chan struct{})
	var started atomic.Int64
	r.Coord.SetMounts(&hdfsio.Mounts{DialHDFS: func(context.Context, string) (hdfsio.FileSystem, error) {
		return gatedFS{FileSystem: r.FS, gate: gate, started: &started}, nil
	}})
	desc := plannertest.Descriptor(`{"path": "` + plannertest.Base + `", "recursive": true}`)
	first := make(chan error, 1)
	go func() { _, err := r.Coord.GetFlightInfo(context.Background(), desc); first <- err }()
	plannertest.WaitFor(t, "the first plan listing", func() bool { return started.Load() == 1 })

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	r.Coord.SetPlanWait(time.Millisecond)
	tests := []struct {
		name string
		ctx  context.Context
		call func(context.Context) error
		kind wire.Kind
	}{
		{"plan, caller gone", cancelled, func(ctx context.Context) error { _, err := r.Coord.GetFlightInfo(ctx, desc); return err }, wire.KindCanceled},
		{"plan, wait bound passed", context.Background(), func(ctx context.Context) error { _, err := r.Coord.GetFlightInfo(ctx, desc); return err }, wire.KindResourceExhausted},
		{"schema, wait bound passed", context.Background(), func(ctx context.Context) error { _, err := r.Coord.GetSchema(ctx, desc); return err }, wire.KindResourceExhausted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(tc.ctx); wire.KindOf(err) != tc.kind {
				t.Errorf("%v, want %v", err, tc.kind)
			}
		})
	}
	if n := started.Load(); n != 1 {
		t.Errorf("%d listings started while one slot was busy, want 1", n)
	}
	close(gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	r.Coord.SetPlanWait(planner.DefaultPlanWait)
	r.Plan(t, `{"path": "`+plannertest.Base+`"}`) // the slot is free again
}

// TestPlanSlotCoversTheWholePlan holds a plan after its listing (in its
// block-location lookups, which run between listing and cutting, signing
// and packing) and checks that a second plan cannot start listing: the slot
// is the whole plan's, not the listing's alone.
func TestPlanSlotCoversTheWholePlan(t *testing.T) {
	cc := planner.DefaultCoordinatorConfig()
	cc.MaxConcurrentPlans = 1
	r := plannertest.New(t, plannertest.Tree(t), cc, "")
	var listed atomic.Int64
	open := make(chan struct{})
	close(open)
	r.Coord.SetMounts(&hdfsio.Mounts{DialHDFS: func(context.Context, string) (hdfsio.FileSystem, error) {
		return gatedFS{FileSystem: r.FS, gate: open, started: &listed}, nil
	}})
	inLocate, gate := make(chan struct{}), make(chan struct{})
	var lookups atomic.Int64
	r.Coord.SetLocate(func(ctx context.Context, _ hdfsio.Location) ([]string, error) {
		if lookups.Add(1) == 1 { // only the first plan's first lookup waits
			close(inLocate)
			<-gate
		}
		return nil, nil
	})
	desc := plannertest.Descriptor(`{"path": "` + plannertest.Base + `", "recursive": true}`)
	first := make(chan error, 1)
	go func() { _, err := r.Coord.GetFlightInfo(context.Background(), desc); first <- err }()
	<-inLocate // the first plan has listed and now holds the slot past its listing
	before := listed.Load()

	r.Coord.SetPlanWait(time.Millisecond)
	for _, call := range []func() error{
		func() error { _, err := r.Coord.GetFlightInfo(context.Background(), desc); return err },
		func() error { _, err := r.Coord.GetSchema(context.Background(), desc); return err },
	} {
		if err := call(); wire.KindOf(err) != wire.KindResourceExhausted {
			t.Errorf("second plan while the first cuts: %v, want ResourceExhausted", err)
		}
	}
	if n := listed.Load(); n != before {
		t.Errorf("%d directories listed by plans started while the slot was busy, want 0", n-before)
	}
	close(gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	r.Coord.SetPlanWait(planner.DefaultPlanWait)
	r.Plan(t, `{"path": "`+plannertest.Base+`"}`) // the slot is free again
}
