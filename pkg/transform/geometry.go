package transform

import (
	"github.com/imageflight/imageflight/pkg/stage"

	"math"
)

func applyResize(r stage.Resize, m Image) Image {
	th, tw := r.Target(m.Height, m.Width)
	switch r.Interpolation {
	case stage.InterArea:
		return resizeArea(m, th, tw)
	case stage.InterAntialias:
		return resizeAntialias(m, th, tw)
	}
	return resizeLinear(m, th, tw)
}

// INTER_RESIZE_COEF_BITS: OpenCV's 8-bit linear resize weights are 11-bit
// fixed point.
const coefScale = 1 << 11

// resizeLinear is cv::resize(INTER_LINEAR) for 8-bit images. OpenCV computes
// each source coordinate in double, rounds it to float, splits it into an
// integer offset and a float fraction, and turns the fraction into 11-bit
// weights (round half to even). Rows are interpolated horizontally into
// 32-bit sums (weight*2048 scale); the vertical pass then uses OpenCV's own
// shortcut formula, ((b0*(s0>>4))>>16 + (b1*(s1>>4))>>16 + 2) >> 2, which
// its SIMD and scalar code share and which differs from exact rounding of
// (b0*s0 + b1*s1) / 2^22; matching it is what makes the result identical.
// Border rows are clamped but keep their weights, as OpenCV does. Kept in
// one piece so that it reads side by side with OpenCV's resize.cpp.
func resizeLinear(src Image, dh, dw int) Image { return resizeBilinear(src, dh, dw, false) }

// resizeBilinear is resizeLinear, or with areaMode the bilinear variant
// cv::resize(INTER_AREA) uses when a side grows (its source coordinates,
// see areaCoord; the same fixed-point weights).
func resizeBilinear(src Image, dh, dw int, areaMode bool) Image {
	sh, sw, cn := src.Height, src.Width, src.Channels
	dst := Image{Height: dh, Width: dw, Channels: cn, Data: make([]byte, dh*dw*cn)}
	if dh == sh && dw == sw {
		copy(dst.Data, src.Data)
		return dst
	}
	scaleX := 1 / (float64(dw) / float64(sw))
	scaleY := 1 / (float64(dh) / float64(sh))
	// cv::resize hands an exact 2x reduction on both axes to INTER_AREA's fast
	// path, which averages 2x2 blocks with its own rounding.
	if !areaMode && math.Abs(scaleX-2) < 0x1p-52 && math.Abs(scaleY-2) < 0x1p-52 {
		halve(src, dst)
		return dst
	}

	xofs := make([]int, dw)  // first source column
	xofs1 := make([]int, dw) // second source column (clamped)
	alpha := make([]int32, 2*dw)
	coord := linearCoord
	if areaMode {
		coord = areaCoord
	}
	for dx := range dw {
		sx, fx := coord(dx, scaleX)
		if sx < 0 {
			sx, fx = 0, 0
		}
		if sx >= sw-1 {
			sx, fx = sw-1, 0
		}
		xofs[dx], xofs1[dx] = sx*cn, min(sx+1, sw-1)*cn
		alpha[2*dx], alpha[2*dx+1] = weight(1-fx), weight(fx)
	}

	rowLen := dw * cn
	rows := [2][]int32{make([]int32, rowLen), make([]int32, rowLen)}
	rowY := [2]int{-1, -1}
	hresize := func(slot, y int) {
		s := src.Data[y*sw*cn : (y+1)*sw*cn]
		d := rows[slot]
		for dx := range dw {
			a0, a1 := alpha[2*dx], alpha[2*dx+1]
			p0, p1 := s[xofs[dx]:xofs[dx]+cn], s[xofs1[dx]:xofs1[dx]+cn]
			for k := range cn {
				d[dx*cn+k] = int32(p0[k])*a0 + int32(p1[k])*a1
			}
		}
		rowY[slot] = y
	}
	for dy := range dh {
		sy, fy := coord(dy, scaleY)
		b0, b1 := weight(1-fy), weight(fy)
		y0, y1 := clampInt(sy, 0, sh-1), clampInt(sy+1, 0, sh-1)
		switch y0 {
		case rowY[0]:
		case rowY[1]:
			rows[0], rows[1], rowY[0], rowY[1] = rows[1], rows[0], rowY[1], rowY[0]
		default:
			hresize(0, y0)
		}
		r0, r1 := rows[0], rows[1]
		if y1 == y0 {
			r1 = r0
		} else if rowY[1] != y1 {
			hresize(1, y1)
		}
		out := dst.Data[dy*rowLen : (dy+1)*rowLen]
		for x := range out {
			out[x] = uint8(((b0*(r0[x]>>4))>>16 + (b1*(r1[x]>>4))>>16 + 2) >> 2)
		}
	}
	return dst
}

// linearCoord maps a destination index to OpenCV's source offset and
// fraction: float((d+0.5)*scale - 0.5), floored. The float64 conversion of
// the product keeps Go from fusing it into an FMA, which OpenCV does not use
// here.
func linearCoord(d int, scale float64) (int, float32) {
	f := float32(float64((float64(d)+0.5)*scale) - 0.5)
	i := int(math.Floor(float64(f)))
	return i, f - float32(i)
}

// areaCoord is INTER_AREA's source offset and fraction when a side grows:
// sx = floor(d·scale), fx = float((d+1) − (sx+1)/scale), its fractional
// part, or 0 when not positive.
func areaCoord(d int, scale float64) (int, float32) {
	sx := int(math.Floor(float64(d) * scale))
	fx := float32(float64(d+1) - float64(float64(sx+1)*(1/scale)))
	if fx <= 0 {
		return sx, 0
	}
	return sx, fx - float32(math.Floor(float64(fx)))
}

// weight is saturate_cast<short>(w * 2048): round half to even.
func weight(w float32) int32 {
	return int32(math.RoundToEven(float64(w * coefScale)))
}

// halve is OpenCV's INTER_AREA fast path for a 2x reduction: each output is
// (a+b+c+d+2)>>2 of a 2x2 block.
func halve(src, dst Image) {
	cn, sw := src.Channels, src.Width
	for dy := range dst.Height {
		r0 := src.Data[2*dy*sw*cn:]
		r1 := src.Data[(2*dy+1)*sw*cn:]
		out := dst.Data[dy*dst.Width*cn : (dy+1)*dst.Width*cn]
		for dx := range dst.Width {
			for k := range cn {
				i := 2*dx*cn + k
				s := int(r0[i]) + int(r0[i+cn]) + int(r1[i]) + int(r1[i+cn])
				out[dx*cn+k] = uint8((s + 2) >> 2)
			}
		}
	}
}

func clampInt(v, lo, hi int) int { return max(lo, min(v, hi)) }

func crop(m Image, x, y, w, h int) Image {
	cn := m.Channels
	out := Image{Height: h, Width: w, Channels: cn, Data: make([]byte, h*w*cn)}
	for r := range h {
		copy(out.Data[r*w*cn:(r+1)*w*cn], m.Data[((y+r)*m.Width+x)*cn:])
	}
	return out
}

func applyFlip(f stage.Flip, m Image) Image {
	cn, w, h := m.Channels, m.Width, m.Height
	out := Image{Height: h, Width: w, Channels: cn, Data: make([]byte, len(m.Data))}
	rowLen := w * cn
	for y := range h {
		sy := y
		if f.Code <= 0 {
			sy = h - 1 - y
		}
		src, dst := m.Data[sy*rowLen:(sy+1)*rowLen], out.Data[y*rowLen:(y+1)*rowLen]
		if f.Code == 0 {
			copy(dst, src)
			continue
		}
		for x := range w {
			copy(dst[x*cn:(x+1)*cn], src[(w-1-x)*cn:(w-x)*cn])
		}
	}
	return out
}
