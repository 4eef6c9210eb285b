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

// blurDivShift is the fixed-point shift OpenCV's 8-bit box filter divides
// with when the box has at most 256 pixels (ColumnSum<ushort, uchar>).
const blurDivShift = 23

func applyBlur(b stage.Blur, m Image) Image {
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
	// Row sums for the kh rows in the window live in a ring indexed by the
	// row's position in the reflected column.
	tabY := make([]int, h+kh-1)
	for i := range tabY {
		tabY[i] = reflect101(i-ay, h)
	}
	ring := make([]int32, kh*rowLen)
	rowSum := func(i int) []int32 {
		dst := ring[(i%kh)*rowLen : (i%kh+1)*rowLen]
		src := m.Data[tabY[i]*rowLen : (tabY[i]+1)*rowLen]
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
	out := Image{Height: h, Width: w, Channels: cn, Data: make([]byte, len(m.Data))}
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

// boxDivider is OpenCV's division of a box sum by the box area.
//
// Up to 256 pixels OpenCV divides in fixed point: (s + delta) * scale >> 23,
// with scale = 2^23/area rounded in a way that makes the result exact
// rounding in practice. Above 256 pixels it multiplies by 1/area: in float32
// with round-half-even for the elements its SIMD loop covers (every full
// group of 8 in the row), in double for the remaining tail.
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
func applyGaussianKernel(g stage.GaussianKernel, m Image) Image {
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
	rows := make([][]byte, 0, n)
	taps := make([]float64, 0, n)
	for y := range h {
		rows, taps = rows[:0], taps[:0]
		for i, f := range k {
			if f == 0 {
				continue // OpenCV drops zero taps
			}
			sy := reflect101(y-anchor+i, h)
			rows = append(rows, m.Data[sy*rowLen:(sy+1)*rowLen])
			taps = append(taps, f)
		}
		dst := out.Data[y*rowLen : (y+1)*rowLen]
		// four independent sums at a time, as OpenCV's 4-lane groups, so the
		// CPU can overlap their latency chains
		for x := 0; x < simdEnd; x += 4 {
			var s0, s1, s2, s3 float32
			for i, f := range taps {
				// v*f is exact in float64 (8 bits times 24), so one float64
				// add and a rounding to float32 is a float32 fused
				// multiply-add (up to vanishingly rare double-rounding ties)
				r := rows[i][x : x+4 : x+4]
				s0 = float32(float64(r[0])*f + float64(s0))
				s1 = float32(float64(r[1])*f + float64(s1))
				s2 = float32(float64(r[2])*f + float64(s2))
				s3 = float32(float64(r[3])*f + float64(s3))
			}
			dst[x] = satU8(math.RoundToEven(float64(s0)))
			dst[x+1] = satU8(math.RoundToEven(float64(s1)))
			dst[x+2] = satU8(math.RoundToEven(float64(s2)))
			dst[x+3] = satU8(math.RoundToEven(float64(s3)))
		}
		for x := simdEnd; x < rowLen; x++ {
			var s float32
			for i, f := range taps {
				s += float32(float64(float32(f)) * float64(rows[i][x])) // exact product, then a float32 add
			}
			dst[x] = satU8(math.RoundToEven(float64(s)))
		}
	}
	return out
}
