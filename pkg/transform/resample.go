package transform

import "math"

// The resize interpolations beside SynapseML's INTER_LINEAR (stage.Resize's
// "interpolation" extension key). Both are separable: a weighted sum over
// source columns, then over source rows.

// tap is one source index and its weight for an output index.
type tap struct {
	src int
	w   float64
}

// areaTaps are INTER_AREA's weights for one axis reduced from n to m: the
// output index d covers [d·n/m, (d+1)·n/m) of the source, and each source
// index weighs its overlap with that interval, divided by the interval.
func areaTaps(n, m int) [][]tap {
	scale := float64(n) / float64(m)
	out := make([][]tap, m)
	for d := range out {
		lo, hi := float64(d)*scale, float64(d+1)*scale
		for s := int(math.Floor(lo)); s < n && float64(s) < hi; s++ {
			if ov := math.Min(hi, float64(s+1)) - math.Max(lo, float64(s)); ov > 1e-12 {
				out[d] = append(out[d], tap{s, ov / scale})
			}
		}
	}
	return out
}

// resizeArea is cv::resize(INTER_AREA). When neither side grows: for
// integer factors OpenCV's fast path (a 2x2 block (a+b+c+d+2)>>2, larger
// blocks sum × float32(1/area) rounded half to even), otherwise exact area
// averages in float64, rounded half to even, where OpenCV accumulates in
// float32 (a value within float32 rounding of .5 may differ by one). When
// a side grows, OpenCV's bilinear variant (resizeBilinear's areaMode).
func resizeArea(src Image, dh, dw int) Image {
	sh, sw := src.Height, src.Width
	switch {
	case dh > sh || dw > sw:
		return resizeBilinear(src, dh, dw, true)
	case dh == sh && dw == sw:
		return Image{Height: dh, Width: dw, Channels: src.Channels, Data: append([]byte(nil), src.Data...)}
	case sh%dh == 0 && sw%dw == 0:
		return areaFast(src, dh, dw)
	}
	return separable(src, dh, dw, areaTaps(sw, dw), areaTaps(sh, dh), roundFloat)
}

// areaFast is INTER_AREA's path for integer factors.
func areaFast(src Image, dh, dw int) Image {
	out := Image{Height: dh, Width: dw, Channels: src.Channels, Data: make([]byte, dh*dw*src.Channels)}
	ky, kx, cn := src.Height/dh, src.Width/dw, src.Channels
	if kx == 2 && ky == 2 {
		halve(src, out)
		return out
	}
	scale := float32(1 / float64(kx*ky))
	for y := range dh {
		for x := range dw {
			for k := range cn {
				sum := 0
				for yy := y * ky; yy < (y+1)*ky; yy++ {
					row := src.Data[yy*src.Width*cn:]
					for xx := x * kx; xx < (x+1)*kx; xx++ {
						sum += int(row[xx*cn+k])
					}
				}
				out.Data[(y*dw+x)*cn+k] = satU8(math.RoundToEven(float64(float32(sum) * scale)))
			}
		}
	}
	return out
}

// aaTaps are Pillow's bilinear weights for one axis resized from n to m
// (precompute_coeffs): a triangle filter of support max(n/m, 1) around each
// output centre, cut at the edges and normalised to sum 1.
func aaTaps(n, m int) [][]tap {
	scale := float64(n) / float64(m)
	fs := math.Max(scale, 1)
	support := fs
	out := make([][]tap, m)
	for d := range out {
		center := (float64(d) + 0.5) * scale
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), n)
		sum := 0.0
		for s := lo; s < hi; s++ {
			w := 1 - math.Abs((float64(s)-center+0.5)/fs)
			if w < 0 {
				w = 0
			}
			out[d] = append(out[d], tap{s, w})
			sum += w
		}
		for i := range out[d] {
			if sum != 0 {
				out[d][i].w /= sum
			}
		}
	}
	return out
}

// resizeAntialias is torchvision's Resize(antialias=True) (bilinear) on a
// uint8 image, i.e. torch's interpolate(antialias=True), which follows
// Pillow: Pillow's weights in fixed point (the most fractional bits, up to
// 22, that keep the largest weight in 16 bits), a horizontal pass rounded
// to 8 bits, then a vertical one.
func resizeAntialias(src Image, dh, dw int) Image {
	m := src
	if dw != src.Width {
		m = separable(m, m.Height, dw, aaTaps(src.Width, dw), nil, nil)
	}
	if dh != src.Height {
		m = separable(m, dh, dw, nil, aaTaps(src.Height, dh), nil)
	}
	if dh == src.Height && dw == src.Width {
		m = Image{Height: dh, Width: dw, Channels: src.Channels, Data: append([]byte(nil), src.Data...)}
	}
	return m
}

// roundFloat is OpenCV's saturate_cast<uchar> of a float sum.
func roundFloat(v float64) uint8 { return satU8(math.RoundToEven(v)) }

// separable resizes src to dh×dw with column taps tx and row taps ty (nil:
// that axis keeps its size). With a rounding function the sums are float64
// and rounded once at the end (area); without one each pass is torch's
// fixed point, rounded to 8 bits (antialias).
func separable(src Image, dh, dw int, tx, ty [][]tap, round func(float64) uint8) Image {
	cn := src.Channels
	sw := src.Width
	if tx == nil {
		tx = identityTaps(dw)
	}
	if ty == nil {
		ty = identityTaps(dh)
	}
	out := Image{Height: dh, Width: dw, Channels: cn, Data: make([]byte, dh*dw*cn)}
	if round == nil {
		fx, fy := fixedTaps(tx), fixedTaps(ty)
		tmp := make([]byte, src.Height*dw*cn)
		fixedPass(src.Data, tmp, src.Height, sw*cn, dw, cn, fx, true)
		fixedPass(tmp, out.Data, dh, dw*cn, dw, cn, fy, false)
		return out
	}
	// one output row at a time: each source row it covers is resampled
	// across and added with its weight (a source row shared by two output
	// rows is resampled twice), so only two rows of floats are held
	rowLen := dw * cn
	acc, hrow := make([]float64, rowLen), make([]float64, rowLen)
	for y, taps := range ty {
		clear(acc)
		for _, t := range taps {
			s := src.Data[t.src*sw*cn : (t.src+1)*sw*cn]
			for x, xt := range tx {
				for k := range cn {
					v := 0.0
					for _, u := range xt {
						v += float64(s[u.src*cn+k]) * u.w
					}
					hrow[x*cn+k] = v
				}
			}
			for i, v := range hrow {
				acc[i] += v * t.w
			}
		}
		d := out.Data[y*rowLen : (y+1)*rowLen]
		for i, v := range acc {
			d[i] = round(v)
		}
	}
	return out
}

func identityTaps(n int) [][]tap {
	out := make([][]tap, n)
	for i := range out {
		out[i] = []tap{{i, 1}}
	}
	return out
}

// fixedTap is a tap with torch's 16-bit weight.
type fixedTap struct {
	src int
	w   int32
}

// fixedTaps converts weights to torch's fixed point: the most fractional
// bits (below 22) for which the largest weight still fits in 16 bits,
// rounded half away from zero. shift is that number of bits.
func fixedTaps(taps [][]tap) fixedTaps16 {
	maxW := 0.0
	for _, ts := range taps {
		for _, t := range ts {
			maxW = math.Max(maxW, t.w)
		}
	}
	prec := 0
	for prec < 22 && int(0.5+maxW*float64(int(1)<<(prec+1))) < 1<<15 {
		prec++
	}
	out := fixedTaps16{shift: prec, taps: make([][]fixedTap, len(taps))}
	for i, ts := range taps {
		for _, t := range ts {
			v := t.w * float64(int(1)<<prec)
			out.taps[i] = append(out.taps[i], fixedTap{t.src, int32(math.Copysign(math.Floor(math.Abs(v)+0.5), v))})
		}
	}
	return out
}

type fixedTaps16 struct {
	shift int
	taps  [][]fixedTap
}

// fixedPass is one axis of the fixed-point resampling from src (rows of
// srcRowLen bytes) into dst: across columns (horizontal) or across rows.
func fixedPass(src, dst []byte, rows, srcRowLen, dw, cn int, f fixedTaps16, horizontal bool) {
	half := int32(1) << f.shift >> 1
	rowLen := dw * cn
	if horizontal {
		for y := range rows {
			s, d := src[y*srcRowLen:(y+1)*srcRowLen], dst[y*rowLen:(y+1)*rowLen]
			for x, taps := range f.taps {
				for k := range cn {
					acc := half
					for _, t := range taps {
						acc += int32(s[t.src*cn+k]) * t.w
					}
					d[x*cn+k] = clampShift(acc, f.shift)
				}
			}
		}
		return
	}
	for y, taps := range f.taps {
		d := dst[y*rowLen : (y+1)*rowLen]
		for i := range d {
			acc := half
			for _, t := range taps {
				acc += int32(src[t.src*srcRowLen+i]) * t.w
			}
			d[i] = clampShift(acc, f.shift)
		}
	}
}

func clampShift(acc int32, shift int) uint8 {
	return uint8(max(0, min(255, acc>>shift)))
}
