package transform

import (
	"math"

	"github.com/imageflight/imageflight/pkg/stage"
)

// reflect101 is OpenCV's borderInterpolate for BORDER_REFLECT_101 (the
// default border, "gfedcb|abcdefgh|gfedcba"), looping for kernels wider
// than the image.
func reflect101(p, n int) int {
	if n == 1 {
		return 0
	}
	for p < 0 || p >= n {
		if p < 0 {
			p = -p
		} else {
			p = 2*n - 2 - p
		}
	}
	return p
}

func applyBlur(b stage.Blur, m Image, v view) Image {
	kw, kh := b.Height, b.Width // SynapseML's swap, see Blur
	h, w, cn := m.Height, m.Width, m.Channels
	whole, x0, y0 := v.whole, v.x, v.y
	rowLen, wholeRowLen := w*cn, whole.Width*cn
	// Horizontal sums over the reflected row, then vertical sums of those:
	// integer sums are exact, so only the final division has to match.
	ax, ay := kw/2, kh/2
	tabX := make([]int, w+kw-1)
	for i := range tabX {
		tabX[i] = reflect101(x0+i-ax, whole.Width) * cn
	}
	// Row sums for the kh rows in the window live in a ring indexed by the
	// row's position in the reflected column.
	tabY := make([]int, h+kh-1)
	for i := range tabY {
		tabY[i] = reflect101(y0+i-ay, whole.Height)
	}
	ring := make([]int32, kh*rowLen)
	rowSum := func(i int) []int32 {
		dst := ring[(i%kh)*rowLen : (i%kh+1)*rowLen]
		src := whole.Data[tabY[i]*wholeRowLen : (tabY[i]+1)*wholeRowLen]
		for k := range cn {
			var s int32
			for j := range kw {
				s += int32(src[tabX[j]+k])
			}
			dst[k] = s
			for x := 1; x < w; x++ {
				s += int32(src[tabX[x+kw-1]+k]) - int32(src[tabX[x-1]+k])
				dst[x*cn+k] = s
			}
		}
		return dst
	}
	div := newBoxDivider(kw*kh, rowLen)
	out := Image{Height: h, Width: w, Channels: cn, Data: make([]byte, h*rowLen)}
	sum := make([]int32, rowLen)
	for i := range kh - 1 {
		for x, v := range rowSum(i) {
			sum[x] += v
		}
	}
	for y := range h {
		add := rowSum(y + kh - 1)
		for x, v := range add {
			sum[x] += v
		}
		div.row(out.Data[y*rowLen:(y+1)*rowLen], sum)
		// the row leaving the window shares its ring slot with the next one
		// to enter, so subtract it before it is overwritten
		sub := ring[(y%kh)*rowLen : (y%kh+1)*rowLen]
		for x, v := range sub {
			sum[x] -= v
		}
	}
	return out
}

// blurDivShift is the fixed-point shift OpenCV 3.2's 8-bit box filter
// divides with when the box has at most 256 pixels (ColumnSum<ushort,
// uchar>, 16-bit sums and a 16-bit multiply-high; 4.x shifts by 23, which
// rounds some sums differently).
const blurDivShift = 16

// boxDivider is OpenCV 3.2's division of a box sum by the box area.
//
// Up to 256 pixels it divides in fixed point: (s + delta) * scale >> 16,
// with scale = 2^16/area rounded down and delta = area/2 + 1, or scale
// rounded up and delta = area/2 when 2^16/area's fraction is at least one
// half. Above 256 pixels it multiplies by 1/area: in float32 with
// round-half-even for the elements its SSE2 loop covers (every full group
// of 8 in the row), in double for the remaining tail. Both checked against
// 3.2 on random images for boxes from 1x1 to 255x1.
type boxDivider struct {
	area    int
	ds, dd  int64
	scale   float64
	simdEnd int
}

func newBoxDivider(area, rowLen int) boxDivider {
	d := boxDivider{area: area, scale: 1 / float64(area), simdEnd: rowLen / 8 * 8}
	if area > 1 && area <= 256 {
		scalef := float64(int64(1)<<blurDivShift) / float64(area)
		d.ds, d.dd = int64(math.Floor(scalef)), int64(area/2)
		if scalef-float64(d.ds) < 0.5 {
			d.dd++
		} else {
			d.ds++
		}
	}
	return d
}

func (d boxDivider) row(dst []byte, sum []int32) {
	switch {
	case d.area == 1:
		for x, s := range sum {
			dst[x] = uint8(s)
		}
	case d.area <= 256:
		for x, s := range sum {
			dst[x] = uint8((int64(s) + d.dd) * d.ds >> blurDivShift)
		}
	default:
		scale32 := float32(d.scale)
		for x, s := range sum[:d.simdEnd] {
			dst[x] = satU8(math.RoundToEven(float64(float32(s) * scale32)))
		}
		for x := d.simdEnd; x < len(sum); x++ {
			dst[x] = satU8(math.RoundToEven(float64(sum[x]) * d.scale))
		}
	}
}

func satU8(v float64) uint8 {
	return uint8(math.Max(0, math.Min(255, v)))
}

// smallGaussian is OpenCV 3.2's fixed table for odd sizes up to 7 with
// sigma <= 0 (4.x added 9).
var smallGaussian = map[int][]float64{
	1: {1},
	3: {0.25, 0.5, 0.25},
	5: {0.0625, 0.25, 0.375, 0.25, 0.0625},
	7: {0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125},
}

// gaussianKernel is OpenCV 3.2's getGaussianKernel (CV_64F): a tap at
// every x = i - (n-1)/2, so even sizes have no centre tap (4.x's bit-exact
// rewrite gives both middle taps the centre weight), the taps summed in
// order and each multiplied by 1/sum. Only exp may differ from glibc's in
// the last bit, which the conversion to float32 in filter2D hides.
func gaussianKernel(n int, sigma float64) []float64 {
	fixed := smallGaussian[n]
	if sigma > 0 {
		fixed = nil
	} else {
		// float64() keeps Go from fusing into an FMA, which 3.2 (built for
		// SSE3) does not use
		sigma = float64(float64(float64(n-1)*0.5-1)*0.3) + 0.8
	}
	scale2 := -0.5 / (sigma * sigma)
	k := make([]float64, n)
	sum := 0.0
	for i := range k {
		if fixed != nil {
			k[i] = fixed[i]
		} else {
			x := float64(i) - float64(n-1)*0.5
			k[i] = math.Exp(float64(scale2*x) * x)
		}
		sum += k[i]
	}
	mul := 1 / sum
	for i := range k {
		k[i] *= mul
	}
	return k
}

// applyGaussianKernel is filter2D(src, -1, kernel) for an n x 1 kernel on
// 8-bit data as OpenCV 3.2 computes it: the kernel converted to float32,
// zero taps dropped, each output accumulated in float32 from the top tap
// down as a product rounded to float32 then a sum rounded to float32 (its
// SSE2 loop and its scalar tail agree: no fused multiply-add in a build for
// SSE3), then rounded half to even and saturated. After a crop the rows
// above and below come from the image the crop was taken from.
func applyGaussianKernel(g stage.GaussianKernel, m Image, v view) Image {
	n := g.ApertureSize
	k64 := gaussianKernel(n, g.Sigma)
	h, rowLen := m.Height, m.Width*m.Channels
	whole, x0, y0 := v.whole, v.x, v.y
	wholeRowLen := whole.Width * m.Channels
	anchor := n / 2
	out := Image{Height: h, Width: m.Width, Channels: m.Channels, Data: make([]byte, h*rowLen)}
	rows := make([][]byte, 0, n)
	taps := make([]float32, 0, n)
	acc := make([]float32, rowLen)
	for y := range h {
		rows, taps = rows[:0], taps[:0]
		for i, f := range k64 {
			if float32(f) == 0 {
				continue // OpenCV drops zero taps
			}
			sy := reflect101(y0+y-anchor+i, whole.Height)
			off := sy*wholeRowLen + x0*m.Channels
			rows = append(rows, whole.Data[off:off+rowLen])
			taps = append(taps, float32(f))
		}
		// tap by tap over the row: each output's sum still runs top tap first
		clear(acc)
		for i, f := range taps {
			for x, v := range rows[i] {
				acc[x] += float32(f * float32(v)) // float32() rounds the product: no FMA
			}
		}
		dst := out.Data[y*rowLen : (y+1)*rowLen]
		for x, s := range acc {
			dst[x] = satU8(math.RoundToEven(float64(s)))
		}
	}
	return out
}
