package transform

import (
	"fmt"
	"math"
)

// colorConv describes one cv::cvtColor code for 8-bit images.
type colorConv struct {
	name    string
	fromCn  int  // required source channels: 1, or 0 meaning "3 or 4"
	toCn    int  // output channels
	swapRB  bool // reverse B and R (RGB <-> BGR)
	blueIdx int  // for *2GRAY: which source channel is blue
}

// colorCodes are OpenCV's cvtColor codes among BGR, RGB, BGRA, RGBA and GRAY
// (imgproc.hpp ColorConversionCodes). Like OpenCV, every code whose source is
// BGR/RGB/BGRA/RGBA accepts a 3- or a 4-channel source: BGRA2BGR on a BGR
// image is a copy, BGR2RGB on a BGRA image drops alpha, BGR2BGRA on a BGRA
// image keeps its alpha. Only GRAY2* insist on one channel.
var colorCodes = map[int]colorConv{
	0:  {name: "BGR2BGRA", toCn: 4},
	1:  {name: "BGRA2BGR", toCn: 3},
	2:  {name: "BGR2RGBA", toCn: 4, swapRB: true},
	3:  {name: "RGBA2BGR", toCn: 3, swapRB: true},
	4:  {name: "BGR2RGB", toCn: 3, swapRB: true},
	5:  {name: "BGRA2RGBA", toCn: 4, swapRB: true},
	6:  {name: "BGR2GRAY", toCn: 1, blueIdx: 0},
	7:  {name: "RGB2GRAY", toCn: 1, blueIdx: 2},
	8:  {name: "GRAY2BGR", fromCn: 1, toCn: 3},
	9:  {name: "GRAY2BGRA", fromCn: 1, toCn: 4},
	10: {name: "BGRA2GRAY", toCn: 1, blueIdx: 0},
	11: {name: "RGBA2GRAY", toCn: 1, blueIdx: 2},
}

// ColorFormat is SynapseML's colorformat: cv::cvtColor with an OpenCV
// conversion code (Code). Supported: 0-11, see colorCodes.
type ColorFormat struct{ Code int }

// Action implements Stage.
func (ColorFormat) Action() string { return "colorformat" }

func (c ColorFormat) shape(h, w, cn int) (int, int, int, error) {
	cc := colorCodes[c.Code]
	if (cc.fromCn == 1 && cn != 1) || (cc.fromCn == 0 && cn != 3 && cn != 4) {
		want := "3 or 4"
		if cc.fromCn == 1 {
			want = "1"
		}
		return 0, 0, 0, fmt.Errorf("COLOR_%s (%d) needs %s channels, image has %d: %w", cc.name, c.Code, want, cn, ErrStage)
	}
	return h, w, cc.toCn, nil
}

// OpenCV's 8-bit RGB-to-gray weights: 0.299, 0.587, 0.114 in 15-bit fixed
// point (they sum to 1<<15), rounded by adding half before the shift.
const (
	grayR     = 9798
	grayG     = 19235
	grayB     = 3735
	grayShift = 15
)

func (c ColorFormat) apply(m Image) Image {
	cc := colorCodes[c.Code]
	n, scn, dcn := m.Height*m.Width, m.Channels, cc.toCn
	out := Image{Height: m.Height, Width: m.Width, Channels: dcn, Data: make([]byte, n*dcn)}
	s, d := m.Data, out.Data
	switch {
	case cc.fromCn == 1:
		for i := range n {
			v := s[i]
			d[i*dcn], d[i*dcn+1], d[i*dcn+2] = v, v, v
			if dcn == 4 {
				d[i*dcn+3] = 255
			}
		}
	case dcn == 1:
		bi, ri := cc.blueIdx, cc.blueIdx^2
		for i := range n {
			p := s[i*scn:]
			d[i] = uint8((int(p[bi])*grayB + int(p[1])*grayG + int(p[ri])*grayR + 1<<(grayShift-1)) >> grayShift)
		}
	default:
		bi := 0
		if cc.swapRB {
			bi = 2
		}
		for i := range n {
			p, q := s[i*scn:], d[i*dcn:]
			q[0], q[1], q[2] = p[bi], p[1], p[bi^2]
			if dcn == 4 {
				q[3] = 255
				if scn == 4 {
					q[3] = p[3]
				}
			}
		}
	}
	return out
}

// Threshold is SynapseML's threshold: cv::threshold with type 0 BINARY,
// 1 BINARY_INV, 2 TRUNC, 3 TOZERO, 4 TOZERO_INV, on every channel.
type Threshold struct {
	Threshold, MaxVal float64
	Type              int
}

// Action implements Stage.
func (Threshold) Action() string { return "threshold" }

func (t Threshold) shape(h, w, c int) (int, int, int, error) { return h, w, c, nil }

// lut is the 256-entry table OpenCV's 8-bit threshold amounts to: the
// threshold is floored to an integer, maxVal rounded (half to even) and
// saturated, and TRUNC truncates to the floored threshold.
func (t Threshold) lut() [256]byte {
	th := math.Floor(t.Threshold)
	maxv := uint8(math.RoundToEven(math.Max(0, math.Min(255, t.MaxVal))))
	var tab [256]byte
	for v := range 256 {
		above := float64(v) > th
		var r uint8
		switch t.Type {
		case 0:
			r = pick(above, maxv, 0)
		case 1:
			r = pick(above, 0, maxv)
		case 2:
			r = pick(above, uint8(math.Max(0, math.Min(255, th))), uint8(v))
		case 3:
			r = pick(above, uint8(v), 0)
		default:
			r = pick(above, 0, uint8(v))
		}
		tab[v] = r
	}
	return tab
}

func pick(c bool, a, b uint8) uint8 {
	if c {
		return a
	}
	return b
}

func (t Threshold) apply(m Image) Image {
	tab := t.lut()
	out := Image{Height: m.Height, Width: m.Width, Channels: m.Channels, Data: make([]byte, len(m.Data))}
	for i, v := range m.Data {
		out.Data[i] = tab[v]
	}
	return out
}
