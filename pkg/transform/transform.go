// Package transform is the image pipeline that workers apply to each decoded
// image before it is streamed: the stages of SynapseML's ImageTransformer
// (resize, crop, centercrop, colorformat, flip, blur, threshold,
// gaussiankernel), spelled as SynapseML spells them and computed the way
// OpenCV computes them for 8-bit images, plus SynapseML's toTensor
// normalisation for deep-learning input.
//
// Parsing is separate from applying so that a bad stage list is rejected when
// a plan is made, before any file is read (Parse, ParseTensor); Apply then
// runs the stages on one image and reports, per image, what cannot be done
// (a crop outside the image, a colour conversion from the wrong channel
// count), which the worker turns into Spark's invalid row.
//
// Fidelity to OpenCV is tested against goldens written by cv2
// (testdata/golden.json, test/python/gen_transform_golden.py); see
// docs/transforms.md for what is byte-identical and what is within ±1.
package transform

import (
	"errors"
	"fmt"

	"github.com/imageflight/imageflight/pkg/imagerow"
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

// Image is an 8-bit image in Spark's layout: Height*Width*Channels bytes,
// row-major, channels B, G, R(, A) or a single gray channel.
type Image struct {
	Height, Width, Channels int
	Data                    []byte
}

func (m Image) check() error {
	if err := checkShape(m.Height, m.Width, m.Channels); err != nil {
		return err
	}
	if len(m.Data) != m.Height*m.Width*m.Channels {
		return fmt.Errorf("image data is %d bytes, want %d: %w", len(m.Data), m.Height*m.Width*m.Channels, ErrUnsupportedImage)
	}
	return nil
}

func checkShape(h, w, c int) error {
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
	// shape is the output shape for an input shape; an error means the stage
	// cannot apply to an image of that shape.
	shape(h, w, c int) (int, int, int, error)
	apply(m Image) Image
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

// Apply runs stages in order on img and returns the result; img is not
// modified. Every stage's output shape is checked before its pixels are
// computed, so a failing stage costs nothing.
func Apply(stages []Stage, img Image) (Image, error) {
	if err := img.check(); err != nil {
		return Image{}, err
	}
	for i, st := range stages {
		if _, _, _, err := checkedShape(st, img.Height, img.Width, img.Channels); err != nil {
			return Image{}, &ApplyError{Index: i, Action: st.Action(), Err: err}
		}
		img = st.apply(img)
	}
	return img, nil
}

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
	if err := checkShape(h, w, c); err != nil {
		return nil, err
	}
	out := make([]Shape, len(stages))
	for i, st := range stages {
		var err error
		if h, w, c, err = checkedShape(st, h, w, c); err != nil {
			return nil, &ApplyError{Index: i, Action: st.Action(), Err: err}
		}
		out[i] = Shape{h, w, c}
	}
	return out, nil
}

func checkedShape(st Stage, h, w, c int) (int, int, int, error) {
	oh, ow, oc, err := st.shape(h, w, c)
	if err != nil {
		return 0, 0, 0, err
	}
	if oh > MaxDim || ow > MaxDim || oh*ow*oc > MaxBytes {
		return 0, 0, 0, fmt.Errorf("output would be %dx%dx%d, over the limit of %d per side and %d bytes: %w",
			ow, oh, oc, MaxDim, MaxBytes, ErrStage)
	}
	return oh, ow, oc, nil
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
	th, tw := r.target(h, w)
	f := 1
	for f < 8 && th*f*2 <= h && tw*f*2 <= w {
		f *= 2
	}
	return f
}

// ApplyRow applies stages to a Spark image row and recomputes nChannels and
// mode. Invalid rows and rows whose mode is not 8-bit are returned with an
// error wrapping ErrUnsupportedImage.
func ApplyRow(stages []Stage, row imagerow.Row) (imagerow.Row, error) {
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
		return Image{}, fmt.Errorf("row mode %d: %w", row.Mode, ErrUnsupportedImage)
	}
	if int(row.NChannels) != c {
		return Image{}, fmt.Errorf("row mode %d with nChannels %d: %w", row.Mode, row.NChannels, ErrUnsupportedImage)
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
