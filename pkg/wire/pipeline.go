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
	// Model is the ONNX model run on each mini-batch of tensors (nil: none);
	// its output columns replace the tensor column. With HeaderOnly the
	// rows then carry the transformed image's size but no pixels.
	Model *stage.ModelParams
	// ModelSize and ModelDigest ("sha256:<hex>") are the model file's as
	// the coordinator read it at planning (tickets only).
	ModelSize   int64
	ModelDigest string
	// ModelPlan is the model's columns, set once its file was read
	// (planning, or the worker's session): the schema needs it.
	ModelPlan *stage.ModelPlan
}

// ParsePipeline validates the transforms, tensor and model of a descriptor
// (or a ticket); problems are DescriptorErrors naming "transforms",
// "tensor" or "model", with the stage index and key in the message. What
// needs the model file (its inputs and outputs) is checked at planning.
func ParsePipeline(transforms, tensor, model json.RawMessage, fastResize bool) (Pipeline, error) {
	p := Pipeline{FastResize: fastResize}
	var err error
	if p.Stages, err = stage.Parse(transforms); err != nil {
		return p, &DescriptorError{Key: "transforms", Msg: paramMsg(err)}
	}
	if p.Model, err = stage.ParseModel(model); err != nil {
		return p, &DescriptorError{Key: "model", Msg: paramMsg(err)}
	}
	if p.Model != nil {
		if msg := checkPath(p.Model.Location, false); msg != "" {
			return p, &DescriptorError{Key: "model", Msg: "model.modelLocation: " + msg}
		}
	}
	if isNull(tensor) {
		if p.Model != nil {
			return p, &DescriptorError{Key: "model", Msg: `needs "tensor" (and transforms fixing the image size): the model is fed the tensor`}
		}
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

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
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
	p, err := ParsePipeline(d.Transforms, d.Tensor, d.Model, d.FastResize)
	p.HeaderOnly, p.FailureReasons = d.HeaderOnly, d.FailureReasons
	return p, err
}

// Pipeline is the ticket's pipeline, as Descriptor.Pipeline.
func (t *Ticket) Pipeline() (Pipeline, error) {
	p, err := ParsePipeline(t.Transforms, t.Tensor, t.Model, t.FastResize)
	p.HeaderOnly, p.FailureReasons = t.HeaderOnly, t.FailureReasons
	p.ModelSize, p.ModelDigest = t.ModelSize, t.ModelDigest
	return p, err
}

// TensorBytes is the size of one row's tensor (C×H×W elements of 4 or 8
// bytes), 0 without a tensor.
func (p *Pipeline) TensorBytes() int64 {
	if p.Tensor == nil {
		return 0
	}
	elem := int64(4)
	if p.Tensor.Double {
		elem = 8
	}
	return int64(p.TensorShape[0]) * int64(p.TensorShape[1]) * int64(p.TensorShape[2]) * elem
}
