package flight

import (
	"context"
	"io/fs"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imageflight/imageflight/pkg/hdfsio"
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
	cc := DefaultCoordinatorConfig()
	cc.MaxConcurrentPlans = 1
	r := newRig(t, testTree(t), cc, DefaultWorkerConfig(), "")
	gate := make(chan struct{})
	var started atomic.Int64
	r.coord.deps.Mounts = &hdfsio.Mounts{DialHDFS: func(context.Context, string) (hdfsio.FileSystem, error) {
		return gatedFS{FileSystem: r.fs, gate: gate, started: &started}, nil
	}}
	desc := descriptor(`{"path": "` + testBase + `", "recursive": true}`)
	first := make(chan error, 1)
	go func() { _, err := r.coord.GetFlightInfo(context.Background(), desc); first <- err }()
	waitFor(t, "the first plan listing", func() bool { return started.Load() == 1 })

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	r.coord.planWait = time.Millisecond
	tests := []struct {
		name string
		ctx  context.Context
		call func(context.Context) error
		kind wire.Kind
	}{
		{"plan, caller gone", cancelled, func(ctx context.Context) error { _, err := r.coord.GetFlightInfo(ctx, desc); return err }, wire.KindCanceled},
		{"plan, wait bound passed", context.Background(), func(ctx context.Context) error { _, err := r.coord.GetFlightInfo(ctx, desc); return err }, wire.KindResourceExhausted},
		{"schema, wait bound passed", context.Background(), func(ctx context.Context) error { _, err := r.coord.GetSchema(ctx, desc); return err }, wire.KindResourceExhausted},
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
	r.coord.planWait = defaultPlanWait
	r.plan(t, `{"path": "`+testBase+`"}`) // the slot is free again
}
