package flight

import (
	"fmt"

	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/transform"
	"github.com/imageflight/imageflight/pkg/wire"
)

// applyPipeline runs stages (the descriptor's, or FastStages of them) on a decoded row and computes
// its tensor. A stage that cannot apply to this image fails it (the caller
// makes its invalid row). A tensor is computed on the transformed pixels:
// gray images are expanded to three channels when the column's shape says
// three (a model takes one shape), and an image whose transformed size
// differs from the column's (smaller than a centercrop) keeps its row with
// a null tensor.
func applyPipeline(row imagerow.Row, stages []transform.Stage, pipe *wire.Pipeline) (decoded, error) {
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
	if img.Channels == 1 && c == 3 {
		if img, err = transform.Apply([]transform.Stage{transform.ColorFormat{Code: 8}}, img); err != nil { // GRAY2BGR
			return decoded{}, err
		}
	}
	t, err := transform.ToTensor(img, *pipe.Tensor)
	if err != nil {
		return decoded{}, err
	}
	if t.Channels != c {
		return decoded{}, fmt.Errorf("tensor of %d channels, the column holds %d", t.Channels, c)
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
