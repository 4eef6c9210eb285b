// Package stage is the vocabulary of the workers' image pipeline as the
// wire contract states it: SynapseML ImageTransformer's stages and toTensor
// parameters, parsed and validated (Parse, ParseTensor), and the shape each
// stage gives an input (Shapes, FixedShape). It computes no pixel, so the
// contract (pkg/wire), planning and clients hold stage lists without
// linking any image code; pkg/transform applies them on the workers.
package stage

import (
	"errors"
	"fmt"
)

// Limits applied at parse time and per image. They keep one request from
// asking a worker for absurd allocations; OpenCV's own limits are wider.
const (
	// MaxDim bounds every output height and width.
	MaxDim = 65535
	// MaxBytes bounds height*width*channels of every intermediate and final
	// image: Spark asserts the same bound ("image is too large").
	MaxBytes = 1_000_000_000
	// MaxBlurKernel bounds blur's height and width.
	MaxBlurKernel = 255
	// MaxAperture bounds gaussiankernel's apertureSize: from 130 taps on,
	// OpenCV's filter2D switches to a DFT-based path with other rounding.
	MaxAperture = 129
	// maxOffset bounds crop's x and y.
	maxOffset = 1 << 30
)

// CheckShape reports whether h x w x c is an 8-bit image the stages take.
func CheckShape(h, w, c int) error {
	if h <= 0 || w <= 0 || (c != 1 && c != 3 && c != 4) || h > MaxBytes || w > MaxBytes || h*w*c > MaxBytes {
		return fmt.Errorf("image is %dx%d with %d channels: %w", w, h, c, ErrUnsupportedImage)
	}
	return nil
}

// ErrUnsupportedImage marks an input that is not a valid 8-bit 1/3/4-channel image.
var ErrUnsupportedImage = errors.New("unsupported image")

// ErrStage marks a stage that cannot be applied to this particular image.
var ErrStage = errors.New("stage cannot apply to image")

// Stage is one parsed transformation. The concrete types are Resize, Crop,
// CenterCrop, ColorFormat, Flip, Blur, Threshold and GaussianKernel.
type Stage interface {
	// Action is the stage's name as SynapseML spells it ("resize", ...).
	Action() string
	// Shape is the output shape for an input shape; an error means the stage
	// cannot apply to an image of that shape.
	Shape(h, w, c int) (int, int, int, error)
}

// ApplyError reports which stage failed on an image and why.
type ApplyError struct {
	Index  int    // position of the stage in the list
	Action string // the stage's action
	Err    error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("transforms[%d] (%s): %v", e.Index, e.Action, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// OutputShape is the shape Apply would produce for an input of h x w x c,
// or the error Apply would return for such an input.
func OutputShape(stages []Stage, h, w, c int) (int, int, int, error) {
	shapes, err := Shapes(stages, h, w, c)
	if err != nil {
		return 0, 0, 0, err
	}
	last := Shape{h, w, c}
	if len(shapes) > 0 {
		last = shapes[len(shapes)-1]
	}
	return last.Height, last.Width, last.Channels, nil
}

// Shape is an image's height, width and channels.
type Shape struct{ Height, Width, Channels int }

// Shapes are the shapes of each stage's output, in order, for an input of
// h x w x c — known before any pixel is computed, so a caller can check
// and reserve what a pipeline will allocate — or the error Apply would
// return for such an input.
func Shapes(stages []Stage, h, w, c int) ([]Shape, error) {
	if err := CheckShape(h, w, c); err != nil {
		return nil, err
	}
	out := make([]Shape, len(stages))
	in := Shape{h, w, c}
	for i, st := range stages {
		var err error
		if in, err = Output(st, in.Height, in.Width, in.Channels); err != nil {
			return nil, &ApplyError{Index: i, Action: st.Action(), Err: err}
		}
		out[i] = in
	}
	return out, nil
}

// Output is st's output shape for an h x w x c input, within the limits.
func Output(st Stage, h, w, c int) (Shape, error) {
	oh, ow, oc, err := st.Shape(h, w, c)
	if err != nil {
		return Shape{}, err
	}
	if oh > MaxDim || ow > MaxDim || oh*ow*oc > MaxBytes {
		return Shape{}, fmt.Errorf("output would be %dx%dx%d, over the limit of %d per side and %d bytes: %w",
			ow, oh, oc, MaxDim, MaxBytes, ErrStage)
	}
	return Shape{oh, ow, oc}, nil
}

// ShrinkFactor tells a decoder that can scale while decoding (libjpeg's DCT
// scaling by 1/2, 1/4, 1/8) how far it may go for an h x w image: the
// largest f in {1, 2, 4, 8} such that the first stage is a resize whose
// output is at most 1/f of the input on both sides. Decoding at 1/f and then
// resizing is not byte-identical to OpenCV on the full image; the caller
// decides whether that trade is acceptable.
func ShrinkFactor(stages []Stage, h, w int) int {
	if len(stages) == 0 || h <= 0 || w <= 0 {
		return 1
	}
	r, ok := stages[0].(Resize)
	if !ok {
		return 1
	}
	th, tw := r.Target(h, w)
	f := 1
	for f < 8 && th*f*2 <= h && tw*f*2 <= w {
		f *= 2
	}
	return f
}
