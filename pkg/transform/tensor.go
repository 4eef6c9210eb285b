package transform

import (
	"github.com/imageflight/imageflight/pkg/stage"

	"fmt"
)

// Tensor is a C x H x W tensor; exactly one of F32 and F64 is set.
type Tensor struct {
	Channels, Height, Width int
	F32                     []float32
	F64                     []float64
}

// ToTensor computes SynapseML's toTensor output for an image: a gray image
// made colour when p.AutoConvertToColor (else it gives one channel), alpha
// dropped, colour channels in p.ChannelOrder, each value
// (v*ScaleFactor - mean[c]) / std[c] computed in float64 in that order,
// laid out C x H x W, then narrowed to float32 unless p.Double. Mean and std
// must have as many values as the image has colour channels (1 or 3), as
// SynapseML requires; otherwise the error wraps ErrStage.
func ToTensor(img Image, p stage.TensorParams) (Tensor, error) {
	if err := img.check(); err != nil {
		return Tensor{}, err
	}
	if img.Channels == 1 && p.AutoConvertToColor {
		img = applyColorFormat(stage.ColorFormat{Code: 8}, img) // GRAY2BGR
	}
	cn := min(img.Channels, 3)
	for _, l := range [][]float64{p.Mean, p.Std} {
		if l != nil && len(l) != cn {
			return Tensor{}, fmt.Errorf("tensor normalisation has %d values, image has %d colour channels: %w", len(l), cn, stage.ErrStage)
		}
	}
	n := img.Height * img.Width
	t := Tensor{Channels: cn, Height: img.Height, Width: img.Width}
	if p.Double {
		t.F64 = make([]float64, cn*n)
	} else {
		t.F32 = make([]float32, cn*n)
	}
	for c := range cn {
		src := c // BGR order, or gray
		if cn == 3 && p.ChannelOrder != "BGR" {
			src = 2 - c
		}
		mean, std := 0.0, 1.0
		if p.Mean != nil {
			mean = p.Mean[c]
		}
		if p.Std != nil {
			std = p.Std[c]
		}
		for i := range n {
			// The explicit float64 conversion stops Go fusing into an FMA:
			// OpenCV multiplies, subtracts and divides as three steps.
			v := (float64(float64(img.Data[i*img.Channels+src])*p.ScaleFactor) - mean) / std
			if p.Double {
				t.F64[c*n+i] = v
			} else {
				t.F32[c*n+i] = float32(v)
			}
		}
	}
	return t, nil
}
