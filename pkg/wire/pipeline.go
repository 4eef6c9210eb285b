package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/imageflight/imageflight/pkg/stage"
)

// Pipeline is what workers do to each decoded image: the descriptor's
// transforms, and the tensor they compute when one is asked for. The stage
// vocabulary is part of the contract: it is SynapseML's ImageTransformer's.
type Pipeline struct {
	Stages []stage.Stage
	// Tensor is nil when no tensor column is asked for.
	Tensor *stage.TensorParams
	// TensorShape is C, H, W of every row's tensor (when Tensor is set).
	TensorShape [3]int
	FastResize  bool
	// HeaderOnly: rows carry the header's size and channels, no pixels
	// (the descriptor's "pixels": false; no stages or tensor then).
	HeaderOnly bool
	// FailureReasons adds the "failure" column.
	FailureReasons bool
}

// ParsePipeline validates the transforms and tensor of a descriptor (or a
// ticket); problems are DescriptorErrors naming "transforms" or "tensor",
// with the stage index and key in the message.
func ParsePipeline(transforms, tensor json.RawMessage, fastResize bool) (Pipeline, error) {
	p := Pipeline{FastResize: fastResize}
	var err error
	if p.Stages, err = stage.Parse(transforms); err != nil {
		return p, &DescriptorError{Key: "transforms", Msg: paramMsg(err)}
	}
	if len(bytes.TrimSpace(tensor)) == 0 || string(bytes.TrimSpace(tensor)) == "null" {
		return p, nil
	}
	tp, err := stage.ParseTensor(tensor)
	if err != nil {
		return p, &DescriptorError{Key: "tensor", Msg: paramMsg(err)}
	}
	h, w, c, ok := stage.FixedShape(p.Stages)
	if tp.AutoConvertToColor {
		c = 3 // gray images become colour before the tensor
	}
	if !ok {
		return p, &DescriptorError{Key: "tensor", Msg: "needs transforms that give every image the same size, e.g. resize to a height and width, or resize with keepAspectRatio then a centercrop no larger than its size"}
	}
	for _, l := range [][]float64{tp.Mean, tp.Std} {
		if l != nil && len(l) != c {
			return p, &DescriptorError{Key: "tensor", Msg: fmt.Sprintf("normalizeMean and normalizeStd need %d values (the tensor's channels), got %d", c, len(l))}
		}
	}
	p.Tensor, p.TensorShape = &tp, [3]int{c, h, w}
	return p, nil
}

// paramMsg strips the sentinel pkg/transform appends, keeping the path.
func paramMsg(err error) string {
	var pe *stage.ParamError
	if errors.As(err, &pe) {
		return pe.Error()
	}
	return err.Error()
}

// Pipeline is the descriptor's pipeline (ParsePipeline) with its
// header-only and failure-reason flags.
func (d Descriptor) Pipeline() (Pipeline, error) {
	p, err := ParsePipeline(d.Transforms, d.Tensor, d.FastResize)
	p.HeaderOnly, p.FailureReasons = d.HeaderOnly, d.FailureReasons
	return p, err
}

// Pipeline is the ticket's pipeline, as Descriptor.Pipeline.
func (t *Ticket) Pipeline() (Pipeline, error) {
	p, err := ParsePipeline(t.Transforms, t.Tensor, t.FastResize)
	p.HeaderOnly, p.FailureReasons = t.HeaderOnly, t.FailureReasons
	return p, err
}
