// Package transform computes the workers' image pipeline on each decoded
// image before it is streamed: the stages of SynapseML's ImageTransformer
// as pkg/stage specifies them (resize, crop, centercrop, colorformat, flip,
// blur, threshold, gaussiankernel), computed the way OpenCV computes them
// for 8-bit images, plus SynapseML's toTensor normalisation for
// deep-learning input.
//
// Stage lists are parsed and checked by pkg/stage when a plan is made,
// before any file is read; Apply then runs the stages on one image and
// reports, per image, what cannot be done (a crop outside the image, a
// colour conversion from the wrong channel count), which the worker turns
// into Spark's invalid row.
//
// Fidelity to OpenCV is tested against goldens written by cv2
// (testdata/golden.json, test/python/gen_transform_golden.py); see
// docs/transforms.md for what is byte-identical and what is within ±1.
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
	for i, st := range stages {
		if _, err := stage.Output(st, img.Height, img.Width, img.Channels); err != nil {
			return Image{}, &stage.ApplyError{Index: i, Action: st.Action(), Err: err}
		}
		img = applyStage(st, img)
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

// applyStage computes one stage's pixels; its shape was checked.
func applyStage(st stage.Stage, m Image) Image {
	switch s := st.(type) {
	case stage.Resize:
		return applyResize(s, m)
	case stage.Crop:
		return applyCrop(s, m)
	case stage.CenterCrop:
		return applyCenterCrop(s, m)
	case stage.Flip:
		return applyFlip(s, m)
	case stage.ColorFormat:
		return applyColorFormat(s, m)
	case stage.Threshold:
		return applyThreshold(s, m)
	case stage.Blur:
		return applyBlur(s, m)
	case stage.GaussianKernel:
		return applyGaussianKernel(s, m)
	}
	panic(fmt.Sprintf("transform: no pixels for stage %T", st))
}
