// Package transform computes the workers' image pipeline on each decoded
// image before it is streamed: the stages of SynapseML's ImageTransformer
// as pkg/stage specifies them (resize, crop, centercrop, colorformat, flip,
// blur, threshold, gaussiankernel), computed the way SynapseML 1.1.0
// computes them for 8-bit images (with OpenCV 3.2.0's arithmetic), plus
// SynapseML's toTensor normalisation for deep-learning input.
//
// Stage lists are parsed and checked by pkg/stage when a plan is made,
// before any file is read; Apply then runs the stages on one image and
// reports, per image, what cannot be done (a crop outside the image, a
// colour conversion from the wrong channel count), which the worker turns
// into Spark's invalid row.
//
// Fidelity is tested against goldens written by the real SynapseML
// (testdata/golden.json, test/python/gen_transform_golden.py), and live
// against SynapseML in test/python/test_transforms_synapseml.py; every
// value is identical (docs/transforms.md).
package transform

import (
	"fmt"

	"github.com/imageflight/imageflight/pkg/imagerow"
	"github.com/imageflight/imageflight/pkg/stage"
)

// Image is an 8-bit image in Spark's layout: Height*Width*Channels bytes,
// row-major, channels B, G, R(, A) or a single gray channel.
type Image struct {
	Height, Width, Channels int
	Data                    []byte
}

// view places an image in the whole image it was cropped from: OpenCV's
// crop is a view into its source (a ROI Mat), and a filter on it (blur,
// gaussiankernel) reads that source's pixels beyond the crop's edge,
// reflecting only at the whole image's edge. Every other stage makes a new
// image, which is its own whole.
type view struct {
	whole Image
	x, y  int
}

func (m Image) check() error {
	if err := stage.CheckShape(m.Height, m.Width, m.Channels); err != nil {
		return err
	}
	if len(m.Data) != m.Height*m.Width*m.Channels {
		return fmt.Errorf("image data is %d bytes, want %d: %w", len(m.Data), m.Height*m.Width*m.Channels, stage.ErrUnsupportedImage)
	}
	return nil
}

// Apply runs stages in order on img and returns the result; img is not
// modified. Every stage's output shape is checked before its pixels are
// computed, so a failing stage costs nothing.
func Apply(stages []stage.Stage, img Image) (Image, error) {
	if err := img.check(); err != nil {
		return Image{}, err
	}
	v := view{whole: img}
	for i, st := range stages {
		if _, err := stage.Output(st, img.Height, img.Width, img.Channels); err != nil {
			return Image{}, &stage.ApplyError{Index: i, Action: st.Action(), Err: err}
		}
		img, v = applyStage(st, img, v)
	}
	return img, nil
}

// ApplyRow applies stages to a Spark image row and recomputes nChannels and
// mode. Invalid rows and rows whose mode is not 8-bit are returned with an
// error wrapping ErrUnsupportedImage.
func ApplyRow(stages []stage.Stage, row imagerow.Row) (imagerow.Row, error) {
	img, err := FromRow(row)
	if err != nil {
		return imagerow.Row{}, err
	}
	out, err := Apply(stages, img)
	if err != nil {
		return imagerow.Row{}, err
	}
	return ToRow(row.Origin, out), nil
}

// FromRow views a valid 8-bit Spark row as an Image (sharing its data).
func FromRow(row imagerow.Row) (Image, error) {
	c := 0
	switch row.Mode {
	case imagerow.ModeCV8UC1:
		c = 1
	case imagerow.ModeCV8UC3:
		c = 3
	case imagerow.ModeCV8UC4:
		c = 4
	default:
		return Image{}, fmt.Errorf("row mode %d: %w", row.Mode, stage.ErrUnsupportedImage)
	}
	if int(row.NChannels) != c {
		return Image{}, fmt.Errorf("row mode %d with nChannels %d: %w", row.Mode, row.NChannels, stage.ErrUnsupportedImage)
	}
	img := Image{Height: int(row.Height), Width: int(row.Width), Channels: c, Data: row.Data}
	return img, img.check()
}

// ToRow wraps an Image as a Spark row with the matching OpenCV mode.
func ToRow(origin string, img Image) imagerow.Row {
	mode := map[int]int32{1: imagerow.ModeCV8UC1, 3: imagerow.ModeCV8UC3, 4: imagerow.ModeCV8UC4}[img.Channels]
	return imagerow.Row{Origin: origin, Height: int32(img.Height), Width: int32(img.Width),
		NChannels: int32(img.Channels), Mode: mode, Data: img.Data}
}

// applyStage computes one stage's pixels (its shape was checked) and where
// they lie: in the same whole image for a crop, their own whole otherwise.
func applyStage(st stage.Stage, m Image, v view) (Image, view) {
	var out Image
	switch s := st.(type) {
	case stage.Resize:
		out = applyResize(s, m)
	case stage.Crop:
		return cropView(m, v, s.X, s.Y, s.Width, s.Height)
	case stage.CenterCrop:
		cw, ch := min(s.Width, m.Width), min(s.Height, m.Height)
		return cropView(m, v, m.Width/2-cw/2, m.Height/2-ch/2, cw, ch)
	case stage.Flip:
		out = applyFlip(s, m)
	case stage.ColorFormat:
		out = applyColorFormat(s, m)
	case stage.Threshold:
		out = applyThreshold(s, m)
	case stage.Blur:
		out = applyBlur(s, m, v)
	case stage.GaussianKernel:
		out = applyGaussianKernel(s, m, v)
	default:
		panic(fmt.Sprintf("transform: no pixels for stage %T", st))
	}
	return out, view{whole: out}
}

func cropView(m Image, v view, x, y, w, h int) (Image, view) {
	return crop(m, x, y, w, h), view{whole: v.whole, x: v.x + x, y: v.y + y}
}
