package transform

import "math"

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

// Blur is SynapseML's blur: Imgproc.blur(image, dst, new Size(height,
// width)). OpenCV's Size is (width, height), so SynapseML's "height" is the
// box's horizontal extent and "width" its vertical one; we keep that quirk.
// Normalised box filter, anchor at the centre, BORDER_REFLECT_101.
type Blur struct{ Height, Width int }

// Action implements Stage.
func (Blur) Action() string { return "blur" }

func (b Blur) shape(h, w, c int) (int, int, int, error) { return h, w, c, nil }

// blurDivShift is the fixed-point shift OpenCV's 8-bit box filter divides
// with when the box has at most 256 pixels (ColumnSum<ushort, uchar>).
const blurDivShift = 23

func (b Blur) apply(m Image) Image {
	kw, kh := b.Height, b.Width // SynapseML's swap, see Blur
	h, w, cn := m.Height, m.Width, m.Channels
	rowLen := w * cn
	// Horizontal sums over the reflected row, then vertical sums of those:
	// integer sums are exact, so only the final division has to match.
	ax, ay := kw/2, kh/2
	tabX := make([]int, w+kw-1)
	for i := range tabX {
		tabX[i] = reflect101(i-ax, w) * cn
	}
	rowSums := make([]int32, h*rowLen)
	for y := range h {
		src, dst := m.Data[y*rowLen:(y+1)*rowLen], rowSums[y*rowLen:(y+1)*rowLen]
		for k := range cn {
			var s int32
			for i := range kw {
				s += int32(src[tabX[i]+k])
			}
			dst[k] = s
			for x := 1; x < w; x++ {
				s += int32(src[tabX[x+kw-1]+k]) - int32(src[tabX[x-1]+k])
				dst[x*cn+k] = s
			}
		}
	}
	tabY := make([]int, h+kh-1)
	for i := range tabY {
		tabY[i] = reflect101(i-ay, h) * rowLen
	}
	area := kw * kh
	div := boxDivider(area, rowLen)
	out := Image{Height: h, Width: w, Channels: cn, Data: make([]byte, len(m.Data))}
	sum := make([]int32, rowLen)
	for i := range kh {
		r := rowSums[tabY[i]:]
		for x := range sum {
			sum[x] += r[x]
		}
	}
	for y := range h {
		if y > 0 {
			add, sub := rowSums[tabY[y+kh-1]:], rowSums[tabY[y-1]:]
			for x := range sum {
				sum[x] += add[x] - sub[x]
			}
		}
		dst := out.Data[y*rowLen : (y+1)*rowLen]
		for x, s := range sum {
			dst[x] = div(x, s)
		}
	}
	return out
}

// boxDivider returns OpenCV's division of a box sum by the box area for
// element x of a row of rowLen elements.
//
// Up to 256 pixels OpenCV divides in fixed point: (s + delta) * scale >> 23,
// with scale = 2^23/area rounded in a way that makes the result exact
// rounding in practice. Above 256 pixels it multiplies by 1/area: in float32
// with round-half-even for the elements its SIMD loop covers (every full
// group of 8 in the row), in double for the remaining tail.
func boxDivider(area, rowLen int) func(x int, s int32) uint8 {
	if area == 1 {
		return func(_ int, s int32) uint8 { return uint8(s) }
	}
	if area <= 256 {
		scalef := float64(int64(1)<<blurDivShift) / float64(area)
		ds := int64(math.Floor(scalef))
		dd := int64(area / 2)
		if scalef-float64(ds) < 0.5 {
			dd++
		} else {
			ds++
		}
		return func(_ int, s int32) uint8 { return uint8((int64(s) + dd) * ds >> blurDivShift) }
	}
	scale := 1 / float64(area)
	scale32 := float32(scale)
	simdEnd := rowLen / 8 * 8
	return func(x int, s int32) uint8 {
		if x < simdEnd {
			return satU8(math.RoundToEven(float64(float32(s) * scale32)))
		}
		return satU8(math.RoundToEven(float64(s) * scale))
	}
}

func satU8(v float64) uint8 {
	return uint8(math.Max(0, math.Min(255, v)))
}

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

func (g GaussianKernel) shape(h, w, c int) (int, int, int, error) { return h, w, c, nil }

// gaussianKernel is OpenCV's getGaussianKernel (its bit-exact softdouble
// version, whose arithmetic is IEEE double; only exp may differ in the last
// bit, which the conversion to float below hides).
func gaussianKernel(n int, sigma float64) []float64 {
	if sigma <= 0 {
		switch n {
		case 1:
			return []float64{1}
		case 3:
			return []float64{0.25, 0.5, 0.25}
		case 5:
			return []float64{0.0625, 0.25, 0.375, 0.25, 0.0625}
		case 7:
			return []float64{0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125}
		case 9:
			return []float64{4. / 256, 13. / 256, 30. / 256, 51. / 256, 60. / 256, 51. / 256, 30. / 256, 13. / 256, 4. / 256}
		}
		sigma = math.FMA(float64(n), 0.15, 0.35) // ((n-1)*0.5 - 1)*0.3 + 0.8
	}
	scale2 := -0.125 / (sigma * sigma) // x below counts half steps
	n2 := (n - 1) / 2
	values := make([]float64, n2)
	sum := 0.0
	for i, x := 0, 1-n; i < n2; i, x = i+1, x+2 {
		values[i] = math.Exp(float64(x*x) * scale2)
		sum += values[i]
	}
	sum = sum*2 + 1
	if n%2 == 0 {
		sum++
	}
	mul := 1 / sum
	k := make([]float64, n)
	for i, v := range values {
		k[i] = v * mul
		k[n-1-i] = k[i]
	}
	k[n2] = mul
	if n%2 == 0 {
		k[n2+1] = mul
	}
	return k
}

// apply is filter2D(src, -1, kernel) for an n x 1 kernel on 8-bit data:
// OpenCV converts the kernel to float and accumulates in float32, top tap
// first, then rounds half to even and saturates. Its SIMD loop (AVX2 and
// up) uses fused multiply-adds, its scalar tail separate ones; a sum that
// lands on .5 rounds differently in the two, so both are reproduced.
func (g GaussianKernel) apply(m Image) Image {
	n := g.ApertureSize
	k64 := gaussianKernel(n, g.Sigma)
	k := make([]float64, n)
	for i, v := range k64 {
		k[i] = float64(float32(v))
	}
	h, rowLen := m.Height, m.Width*m.Channels
	anchor := n / 2
	// OpenCV's vector loop covers every full group of 4 values in the row;
	// the rest goes through scalar code, which multiplies and adds separately.
	simdEnd := rowLen / 4 * 4
	out := Image{Height: h, Width: m.Width, Channels: m.Channels, Data: make([]byte, len(m.Data))}
	acc := make([]float32, rowLen)
	for y := range h {
		clear(acc)
		for i, f := range k {
			if f == 0 {
				continue // OpenCV drops zero taps
			}
			sy := reflect101(y-anchor+i, h)
			src := m.Data[sy*rowLen : (sy+1)*rowLen]
			for x, v := range src[:simdEnd] {
				acc[x] = fma32(float64(v), f, acc[x])
			}
			f32 := float32(f)
			for x := simdEnd; x < rowLen; x++ {
				acc[x] += float32(float64(f32) * float64(src[x])) // exact product, then a float32 add
			}
		}
		dst := out.Data[y*rowLen : (y+1)*rowLen]
		for x, s := range acc {
			dst[x] = satU8(math.RoundToEven(float64(s)))
		}
	}
	return out
}

// fma32 is a float32 fused multiply-add: v*f is exact in float64 (8-bit
// times 24-bit), so one float64 FMA and a rounding to float32 match the
// hardware's single rounding except in vanishingly rare double-rounding ties.
func fma32(v, f float64, acc float32) float32 {
	return float32(math.FMA(v, f, float64(acc)))
}
