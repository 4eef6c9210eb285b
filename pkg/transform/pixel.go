package transform

import (
	"github.com/imageflight/imageflight/pkg/stage"

	"math"
)

// OpenCV 3.2's 8-bit RGB-to-gray weights (color.cpp, yuv_shift): 0.299,
// 0.587, 0.114 in 14-bit fixed point (they sum to 1<<14), rounded by adding
// half before the shift. OpenCV 4.x moved to 15 bits, which differs by one
// on some pixels; SynapseML 1.1.0 runs 3.2. Checked on all 2^24 colours.
const (
	grayR     = 4899
	grayG     = 9617
	grayB     = 1868
	grayShift = 14
)

func applyColorFormat(c stage.ColorFormat, m Image) Image {
	cc := c.Conv()
	n, scn, dcn := m.Height*m.Width, m.Channels, cc.ToCn
	out := Image{Height: m.Height, Width: m.Width, Channels: dcn, Data: make([]byte, n*dcn)}
	s, d := m.Data, out.Data
	switch {
	case cc.FromCn == 1:
		for i := range n {
			v := s[i]
			d[i*dcn], d[i*dcn+1], d[i*dcn+2] = v, v, v
			if dcn == 4 {
				d[i*dcn+3] = 255
			}
		}
	case dcn == 1:
		bi, ri := cc.BlueIdx, cc.BlueIdx^2
		for i := range n {
			p := s[i*scn:]
			d[i] = uint8((int(p[bi])*grayB + int(p[1])*grayG + int(p[ri])*grayR + 1<<(grayShift-1)) >> grayShift)
		}
	default:
		bi := 0
		// OpenCV 3.2's BGR2BGRA (code 0) on a 4-channel image swaps blue and
		// red (it keeps alpha), as BGRA2RGBA does; checked on all values.
		if cc.SwapRB != (c.Code == 0 && scn == 4) {
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

// lut is the 256-entry table OpenCV's 8-bit threshold amounts to: the
// threshold is floored to an integer, maxVal rounded (half to even) and
// saturated, and TRUNC truncates to the floored threshold.
func thresholdLUT(t stage.Threshold) [256]byte {
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

func applyThreshold(t stage.Threshold, m Image) Image {
	tab := thresholdLUT(t)
	out := Image{Height: m.Height, Width: m.Width, Channels: m.Channels, Data: make([]byte, len(m.Data))}
	for i, v := range m.Data {
		out.Data[i] = tab[v]
	}
	return out
}
