package stage

import (
	"fmt"
	"math"
)

// Resize is SynapseML's resize: to Height x Width, or, when Size is set, to
// Size x Size (KeepAspectRatio false) or with the shorter side at Size and
// the other at round(ratio*side) (KeepAspectRatio true). The pixels are
// OpenCV's cv::resize with its default INTER_LINEAR, reproduced bit for bit,
// unless Interpolation (our extension key) says otherwise.
type Resize struct {
	Height, Width   int
	Size            int
	KeepAspectRatio bool
	// Interpolation is the "interpolation" key, an imageflight extension
	// (SynapseML always uses OpenCV's default): "" (or "linear") INTER_LINEAR,
	// InterArea or InterAntialias.
	Interpolation string
}

// Interpolations of Resize besides SynapseML's INTER_LINEAR.
const (
	// InterArea is OpenCV's INTER_AREA: each output pixel the average of
	// the source area it covers (downscaling).
	InterArea = "area"
	// InterAntialias is torchvision's Resize(antialias=True) bilinear on
	// uint8 images (Pillow's BILINEAR): a triangle filter widened by the
	// reduction factor, so a large reduction does not alias.
	InterAntialias = "antialias"
)

// Action implements Stage.
func (Resize) Action() string { return "resize" }

// Target is the output height and width for an h x w input.
func (r Resize) Target(h, w int) (int, int) {
	if r.Size == 0 {
		return r.Height, r.Width
	}
	if !r.KeepAspectRatio {
		return r.Size, r.Size
	}
	ratio := 1.0 * float64(r.Size) / float64(min(w, h))
	return javaRound(ratio * float64(h)), javaRound(ratio * float64(w))
}

// javaRound is Scala's math.round on a Double: nearest, ties up.
func javaRound(x float64) int {
	f := math.Floor(x)
	if x-f >= 0.5 {
		f++
	}
	return int(f)
}

func (r Resize) Shape(h, w, c int) (int, int, int, error) {
	th, tw := r.Target(h, w)
	return th, tw, c, nil
}

// Crop is SynapseML's crop: OpenCV's Rect(x, y, width, height), which must
// lie inside the image.
type Crop struct{ X, Y, Height, Width int }

// Action implements Stage.
func (Crop) Action() string { return "crop" }

func (c Crop) Shape(h, w, ch int) (int, int, int, error) {
	if c.X+c.Width > w || c.Y+c.Height > h {
		return 0, 0, 0, fmt.Errorf("rectangle x=%d y=%d width=%d height=%d does not fit a %dx%d image: %w",
			c.X, c.Y, c.Width, c.Height, w, h, ErrStage)
	}
	return c.Height, c.Width, ch, nil
}

// CenterCrop is SynapseML's centercrop: the crop is min(requested, image)
// on each side, placed at x = W/2 - cw/2, y = H/2 - ch/2 (integer
// division), so it never fails.
type CenterCrop struct{ Height, Width int }

// Action implements Stage.
func (CenterCrop) Action() string { return "centercrop" }

func (c CenterCrop) Shape(h, w, ch int) (int, int, int, error) {
	return min(c.Height, h), min(c.Width, w), ch, nil
}

// Flip is SynapseML's flip (cv::flip): 0 up-down, 1 left-right, -1 both.
type Flip struct{ Code int }

// Action implements Stage.
func (Flip) Action() string { return "flip" }

func (f Flip) Shape(h, w, c int) (int, int, int, error) { return h, w, c, nil }

// ColorConv describes one cv::cvtColor code for 8-bit images.
type ColorConv struct {
	Name    string
	FromCn  int  // required source channels: 1, or 0 meaning "3 or 4"
	ToCn    int  // output channels
	SwapRB  bool // reverse B and R (RGB <-> BGR)
	BlueIdx int  // for *2GRAY: which source channel is blue
}

// colorCodes are OpenCV's cvtColor codes among BGR, RGB, BGRA, RGBA and GRAY
// (imgproc.hpp ColorConversionCodes). Like OpenCV, every code whose source is
// BGR/RGB/BGRA/RGBA accepts a 3- or a 4-channel source: BGRA2BGR on a BGR
// image is a copy, BGR2RGB on a BGRA image drops alpha, BGR2BGRA on a BGRA
// image keeps its alpha (and, in OpenCV 3.2, swaps blue and red: see
// pkg/transform). Only GRAY2* insist on one channel.
var colorCodes = map[int]ColorConv{
	0:  {Name: "BGR2BGRA", ToCn: 4},
	1:  {Name: "BGRA2BGR", ToCn: 3},
	2:  {Name: "BGR2RGBA", ToCn: 4, SwapRB: true},
	3:  {Name: "RGBA2BGR", ToCn: 3, SwapRB: true},
	4:  {Name: "BGR2RGB", ToCn: 3, SwapRB: true},
	5:  {Name: "BGRA2RGBA", ToCn: 4, SwapRB: true},
	6:  {Name: "BGR2GRAY", ToCn: 1, BlueIdx: 0},
	7:  {Name: "RGB2GRAY", ToCn: 1, BlueIdx: 2},
	8:  {Name: "GRAY2BGR", FromCn: 1, ToCn: 3},
	9:  {Name: "GRAY2BGRA", FromCn: 1, ToCn: 4},
	10: {Name: "BGRA2GRAY", ToCn: 1, BlueIdx: 0},
	11: {Name: "RGBA2GRAY", ToCn: 1, BlueIdx: 2},
}

// ColorFormat is SynapseML's colorformat: cv::cvtColor with an OpenCV
// conversion code (Code). Supported: 0-11, see colorCodes.
type ColorFormat struct{ Code int }

// Action implements Stage.
func (ColorFormat) Action() string { return "colorformat" }

func (c ColorFormat) Shape(h, w, cn int) (int, int, int, error) {
	cc := c.Conv()
	if (cc.FromCn == 1 && cn != 1) || (cc.FromCn == 0 && cn != 3 && cn != 4) {
		want := "3 or 4"
		if cc.FromCn == 1 {
			want = "1"
		}
		return 0, 0, 0, fmt.Errorf("COLOR_%s (%d) needs %s channels, image has %d: %w", cc.Name, c.Code, want, cn, ErrStage)
	}
	return h, w, cc.ToCn, nil
}

// Threshold is SynapseML's threshold: cv::threshold with type 0 BINARY,
// 1 BINARY_INV, 2 TRUNC, 3 TOZERO, 4 TOZERO_INV, on every channel.
type Threshold struct {
	Threshold, MaxVal float64
	Type              int
}

// Action implements Stage.
func (Threshold) Action() string { return "threshold" }

func (t Threshold) Shape(h, w, c int) (int, int, int, error) { return h, w, c, nil }

// Blur is SynapseML's blur: Imgproc.blur(image, dst, new Size(height,
// width)). OpenCV's Size is (width, height), so SynapseML's "height" is the
// box's horizontal extent and "width" its vertical one; we keep that quirk.
// Normalised box filter, anchor at the centre, BORDER_REFLECT_101.
type Blur struct{ Height, Width int }

// Action implements Stage.
func (Blur) Action() string { return "blur" }

func (b Blur) Shape(h, w, c int) (int, int, int, error) { return h, w, c, nil }

// GaussianKernel is SynapseML's gaussiankernel. SynapseML builds
// Imgproc.getGaussianKernel(apertureSize, sigma), an apertureSize x 1
// column, and applies it with Imgproc.filter2D as it is, so the image is
// blurred vertically only (never horizontally): we keep that quirk. sigma <=
// 0 means OpenCV's default for the size. With an even apertureSize OpenCV
// gives both middle taps the centre weight, and the anchor is the lower of
// the two.
type GaussianKernel struct {
	ApertureSize int
	Sigma        float64
}

// Action implements Stage.
func (GaussianKernel) Action() string { return "gaussiankernel" }

func (g GaussianKernel) Shape(h, w, c int) (int, int, int, error) { return h, w, c, nil }

// Conv is the conversion c's code stands for (the zero ColorConv for a code
// Parse refuses).
func (c ColorFormat) Conv() ColorConv { return colorCodes[c.Code] }
