package pipeline

import (
	"fmt"

	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/stage"
	"github.com/imageflight/imageflight/pkg/transform"
	"github.com/imageflight/imageflight/pkg/wire"
)

// applyPipeline runs stages (the descriptor's, or FastStages of them) on a decoded row and computes
// its tensor. A stage that cannot apply to this image fails it (the caller
// makes its invalid row). A tensor is computed on the transformed pixels;
// an image whose tensor shape differs from the column's (smaller than a
// centercrop, or gray without autoConvertToColor in a 3-channel column)
// keeps its row with a null tensor.
func applyPipeline(row imagerow.Row, stages []stage.Stage, pipe *wire.Pipeline) (decoded, error) {
	if len(stages) > 0 {
		var err error
		if row, err = transform.ApplyRow(stages, row); err != nil {
			return decoded{}, err
		}
	}
	d := decoded{row: row, keep: true}
	if pipe.Tensor == nil {
		return d, nil
	}
	img, err := transform.FromRow(row)
	if err != nil {
		return decoded{}, err
	}
	c, h, w := pipe.TensorShape[0], pipe.TensorShape[1], pipe.TensorShape[2]
	if img.Height != h || img.Width != w {
		return d, nil
	}
	t, err := transform.ToTensor(img, *pipe.Tensor)
	if err != nil {
		return decoded{}, err
	}
	if t.Channels != c {
		return d, nil
	}
	d.tensor = &t
	return d, nil
}

// tensorBytes is a tensor's size in a batch.
func tensorBytes(t *transform.Tensor) int64 {
	if t == nil {
		return 0
	}
	return int64(4*len(t.F32) + 8*len(t.F64))
}

// pipelineCost is what the stages and the tensor allocate for an h×w×c
// image — every stage's output (each one's input is garbage only at the
// next collection) and the tensor with its gray-to-colour copy — known
// before any pixel is made. An output over the worker's pixel limit is
// refused, naming its stage: a 1×1 PNG resized to 18000×18000 must become
// an invalid row, not a 972 MB allocation.
func pipelineCost(pipe *wire.Pipeline, stages []stage.Stage, h, w, c int, maxPixels int64) (int64, error) {
	shapes, err := stage.Shapes(stages, h, w, c)
	if err != nil {
		return 0, err
	}
	var n int64
	for i, s := range shapes {
		px := int64(s.Height) * int64(s.Width)
		if px > maxPixels {
			return 0, fmt.Errorf("transforms[%d] (%s): output %dx%d is %d pixels, over the worker's limit of %d (--max-pixels): %w",
				i, stages[i].Action(), s.Width, s.Height, px, maxPixels, stage.ErrStage)
		}
		n += px * int64(s.Channels)
	}
	if pipe.Tensor != nil { // within the pixel limit: Worker.open
		n += pipe.TensorBytes() + 3*int64(pipe.TensorShape[1])*int64(pipe.TensorShape[2])
	}
	return n, nil
}

// pipelineEstimate is pipelineCost from a header's dimensions, before the
// channels are known: the largest over the channel counts the stages
// accept, 0 when none fits (decodeOne then refuses the image).
func (sp *Split) pipelineEstimate(h, w int) int64 {
	if len(sp.pipe.Stages) == 0 && sp.pipe.Tensor == nil {
		return 0
	}
	for _, c := range []int{4, 3, 1} {
		if n, err := pipelineCost(&sp.pipe, sp.pipe.Stages, h, w, c, sp.w.cfg.Decode.MaxPixels); err == nil {
			return n
		}
	}
	return 0
}
