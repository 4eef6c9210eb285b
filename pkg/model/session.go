package model

import (
	"context"
	"fmt"

	"github.com/imageflight/imageflight/pkg/stage"
	"github.com/imageflight/imageflight/pkg/wire"
)

// Batch is the tensors of n images, C×H×W each, back to back: F32 or F64.
type Batch struct {
	N   int
	F32 []float32
	F64 []float64
}

// Column is one model column's values for a batch's n rows, row after
// row: F32 or F64 as the column's Double says.
type Column struct {
	F32 []float32
	F64 []float64
}

// runner runs a model on one call's worth of input: the named outputs of
// a batch of n (the model's fixed batch, when it has one), each flattened.
type runner interface {
	run(ctx context.Context, in Batch, shape [4]int64, outputs []string) ([]Column, error)
	close()
}

// Session is an opened model: its declared inputs and outputs and a
// runtime session, shared by the streams that use the model.
type Session struct {
	IO     stage.ModelIO
	Digest string
	Size   int64
	r      runner
	closed []func()
}

// OnClose registers f to run when the session is closed (a worker gives
// back the memory it counted for the session).
func (s *Session) OnClose(f func()) { s.closed = append(s.closed, f) }

// Close releases the runtime session.
func (s *Session) Close() {
	if s.r != nil {
		s.r.close()
	}
	for _, f := range s.closed {
		f()
	}
}

// Run runs plan's model on in (tensors of shape c, h, w) in mini-batches
// of miniBatch (or the model's fixed batch, padding the last one with
// zeros) and returns plan's columns, fetched and derived, in plan order.
// A cancelled ctx stops the batch being run.
func (s *Session) Run(ctx context.Context, plan stage.ModelPlan, miniBatch int, in Batch, tensor [3]int) ([]Column, error) {
	row := tensor[0] * tensor[1] * tensor[2]
	var outputs []string
	idx := map[string]int{}
	for _, c := range plan.Columns {
		if _, ok := idx[c.Output]; c.Op == "fetch" && !ok {
			idx[c.Output] = len(outputs)
			outputs = append(outputs, c.Output)
		}
	}
	step := miniBatch
	if plan.Batch > 0 {
		step = plan.Batch
	}
	fetched := make([]Column, len(outputs))
	for start := 0; start < in.N; start += step {
		if err := ctx.Err(); err != nil {
			return nil, wire.Wrap(wire.AutoKind, err, "model "+s.Digest)
		}
		n := min(step, in.N-start)
		call := n
		if plan.Batch > 0 {
			call = plan.Batch
		}
		part := Batch{N: call}
		if in.F64 != nil {
			part.F64 = padded(in.F64[start*row:(start+n)*row], call*row)
		} else {
			part.F32 = padded(in.F32[start*row:(start+n)*row], call*row)
		}
		shape := [4]int64{int64(call), int64(tensor[0]), int64(tensor[1]), int64(tensor[2])}
		got, err := s.r.run(ctx, part, shape, outputs)
		if err != nil {
			if ctx.Err() != nil {
				return nil, wire.Wrap(wire.AutoKind, ctx.Err(), "model "+s.Digest+": running call terminated")
			}
			return nil, wire.Wrap(wire.KindInternal, err, "run model "+s.Digest)
		}
		for i, g := range got {
			keep := len(g.F32) + len(g.F64)
			if keep%call != 0 {
				return nil, wire.Errorf(wire.KindInternal, "model output %q holds %d values for %d rows", outputs[i], keep, call)
			}
			keep = keep / call * n
			if g.F64 != nil {
				fetched[i].F64 = append(fetched[i].F64, g.F64[:keep]...)
			} else {
				fetched[i].F32 = append(fetched[i].F32, g.F32[:keep]...)
			}
		}
	}
	cols := make([]Column, len(plan.Columns))
	byName := map[string]int{}
	for i, c := range plan.Columns {
		byName[c.Name] = i
		switch c.Op {
		case "fetch":
			cols[i] = fetched[idx[c.Output]]
			if want := in.N * c.Values(); len(cols[i].F32)+len(cols[i].F64) != want {
				return nil, wire.Errorf(wire.KindInternal, "model output %q gave %d values, its declared shape %v makes %d", c.Output, len(cols[i].F32)+len(cols[i].F64), c.Shape, want)
			}
		case "softmax", "argmax":
			src := cols[byName[c.Source]]
			k := plan.Columns[byName[c.Source]].Shape[0]
			n := in.N * k
			if c.Op == "argmax" {
				n = in.N
			}
			cols[i].F64 = make([]float64, n)
			f := softmax[float32]
			g := softmax[float64]
			if c.Op == "argmax" {
				f, g = argmax[float32], argmax[float64]
			}
			if src.F64 != nil {
				g(src.F64, in.N, k, cols[i].F64)
			} else {
				f(src.F32, in.N, k, cols[i].F64)
			}
		default:
			return nil, fmt.Errorf("model column %q: unknown op %q", c.Name, c.Op)
		}
	}
	return cols, nil
}

// padded is v extended with zeros to n values (v itself when it has n).
func padded[T float32 | float64](v []T, n int) []T {
	if len(v) == n {
		return v
	}
	out := make([]T, n)
	copy(out, v)
	return out
}
