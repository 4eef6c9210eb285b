package pipeline

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/imageflight/imageflight/pkg/hdfsio"
	"github.com/imageflight/imageflight/pkg/model"
	"github.com/imageflight/imageflight/pkg/stage"
	"github.com/imageflight/imageflight/pkg/transform"
	"github.com/imageflight/imageflight/pkg/wire"
)

// openModel gets the ticket's model session — from the worker's cache, or
// fetched through the confined file systems, checked against the ticket's
// size and digest, and opened — and sets the pipeline's model columns.
// Everything fails here, before any image is read. Call release when the
// stream is done.
func (w *Worker) openModel(ctx context.Context, pipe *wire.Pipeline) (s *model.Session, release func(), err error) {
	loc, err := hdfsio.ParseLocation(pipe.Model.Location)
	if err != nil {
		return nil, nil, wire.Wrap(wire.KindInvalidArgument, err, "model location")
	}
	if !w.deps.Roots.Contains(loc) {
		return nil, nil, wire.Errorf(wire.KindPermission, "model %s is outside this worker's roots", loc)
	}
	if pipe.ModelDigest == "" {
		return nil, nil, wire.Errorf(wire.KindInvalidArgument, "ticket names model %s without its digest", loc)
	}
	tensorBytes := pipe.TensorBytes()
	if err := w.modelFits(loc.String(), pipe.ModelSize, tensorBytes, 0); err != nil {
		return nil, nil, err // the session alone does not fit: do not fetch it
	}
	s, release, err = w.models.Get(ctx, pipe.ModelDigest, pipe.ModelSize, func(ctx context.Context) (*model.Session, error) {
		weights, err := w.reserveWeights(loc.String(), pipe.ModelSize)
		if err != nil {
			return nil, err
		}
		s, err := w.loadModel(ctx, loc, pipe)
		if err != nil {
			w.mem.unpin(weights)
			return nil, err
		}
		s.OnClose(func() { w.mem.unpin(weights) })
		return s, nil
	})
	if err != nil {
		return nil, nil, err
	}
	mp, err := stage.PlanModel(pipe.Model, s.IO, pipe.TensorShape, pipe.Tensor.Double)
	if err != nil {
		release()
		return nil, nil, wire.Wrap(wire.KindInvalidArgument, err, "model "+loc.String())
	}
	call := w.callImages(pipe.Model.MiniBatch, mp.Batch, tensorBytes)
	if err := w.modelFits(loc.String(), pipe.ModelSize, tensorBytes, call); err != nil {
		release()
		return nil, nil, err
	}
	if err := w.reserveActivations(loc.String(), s, tensorBytes, call); err != nil {
		release()
		return nil, nil, err
	}
	pipe.ModelPlan = &mp
	return s, release, nil
}

// loadModel fetches the model through the confined file systems, checks
// it is the planned bytes and opens its session.
func (w *Worker) loadModel(ctx context.Context, loc hdfsio.Location, pipe *wire.Pipeline) (*model.Session, error) {
	data, err := model.ReadFile(ctx, w.deps.Mounts, loc, w.cfg.Model.MaxModelBytes)
	if err != nil {
		return nil, err
	}
	if err := model.Verify(data, loc.String(), pipe.ModelSize, pipe.ModelDigest); err != nil {
		return nil, err
	}
	s, err := w.runtime.Open(data)
	if err != nil {
		return nil, err
	}
	w.log.Info("model loaded", "model", loc, "digest", pipe.ModelDigest, "bytes", len(data))
	return s, nil
}

// modelBatch runs a stream's model on the tensors of a record batch when
// it is cut, and appends the model's columns: the rows' tensors wait here
// (nil for a row without one) instead of going into a tensor column.
type modelBatch struct {
	ctx     context.Context
	w       *Worker
	s       *model.Session
	pipe    *wire.Pipeline
	cols    []array.Builder
	tensors []*transform.Tensor
}

func (m *modelBatch) add(t *transform.Tensor) { m.tensors = append(m.tensors, t) }

// run runs the model on the waiting tensors and appends every row's
// values (nulls for rows without a tensor) to the column builders.
func (m *modelBatch) run() error {
	defer func() { m.tensors = m.tensors[:0] }()
	in := model.Batch{}
	for _, t := range m.tensors {
		if t == nil {
			continue
		}
		in.N++
		if m.pipe.Tensor.Double {
			in.F64 = append(in.F64, t.F64...)
		} else {
			in.F32 = append(in.F32, t.F32...)
		}
	}
	var out []model.Column
	if in.N > 0 {
		done, err := m.w.modelSlot(m.ctx)
		if err != nil {
			return err
		}
		out, err = m.s.Run(m.ctx, *m.pipe.ModelPlan, m.pipe.Model.MiniBatch, in, m.pipe.TensorShape)
		done()
		if err != nil {
			return err
		}
	}
	k := 0
	for _, t := range m.tensors {
		for ci, c := range m.pipe.ModelPlan.Columns {
			if t == nil {
				appendModelValues(m.cols[ci], nil, nil, true)
				continue
			}
			n := c.Values()
			var f32 []float32
			var f64 []float64
			if out[ci].F64 != nil {
				f64 = out[ci].F64[k*n : (k+1)*n]
			} else {
				f32 = out[ci].F32[k*n : (k+1)*n]
			}
			appendModelValues(m.cols[ci], f32, f64, false)
		}
		if t != nil {
			k++
		}
	}
	if k != in.N {
		return wire.Errorf(wire.KindInternal, "model batch: %d rows, %d tensors", k, in.N)
	}
	return nil
}

// useModel makes b run the split's model when it cuts a batch.
func (b *batcher) useModel(ctx context.Context, w *Worker, s *model.Session, pipe *wire.Pipeline) error {
	if s == nil {
		return nil
	}
	if pipe.ModelPlan == nil || b.rest == nil {
		return fmt.Errorf("model without columns")
	}
	m := &modelBatch{ctx: ctx, w: w, s: s, pipe: pipe}
	for i := range pipe.ModelPlan.Columns {
		m.cols = append(m.cols, b.rest.Field(i))
	}
	b.model = m
	return nil
}

// appendModelValues appends one row's values (nil: null) to a model
// column's builder.
func appendModelValues(b array.Builder, f32 []float32, f64 []float64, null bool) {
	if fb, ok := b.(*array.Float64Builder); ok {
		if null {
			fb.AppendNull()
		} else {
			fb.Append(f64[0])
		}
		return
	}
	lb := b.(*array.ExtensionBuilder).Builder.(*array.FixedSizeListBuilder)
	if null {
		lb.AppendNull()
		return
	}
	lb.Append(true)
	switch vb := lb.ValueBuilder().(type) {
	case *array.Float32Builder:
		vb.AppendValues(f32, nil)
	case *array.Float64Builder:
		vb.AppendValues(f64, nil)
	}
}
