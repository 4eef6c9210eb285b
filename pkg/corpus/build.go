package corpus

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// OpenCV mode codes (as in Spark's image schema).
const (
	modeGray = 0
	modeBGR  = 16
	modeBGRA = 24
)

// build encodes one spec and returns its bytes and expected Entry. The
// expected Data restates Java ImageIO's rules for what each encoder
// writes; see the comment at each case — one case per corpus kind, a
// table more than a procedure.
func (s spec) build(seed int64) ([]byte, Entry, error) {
	var buf bytes.Buffer
	var err error
	e := Entry{Height: int32(s.h), Width: int32(s.w)}
	src := photo(s.w, s.h, seed)
	switch s.k {
	case jpegRGB:
		e.Format, e.NChannels = "jpeg", 3
		err = jpeg.Encode(&buf, src, &jpeg.Options{Quality: s.q})
	case jpegGray:
		e.Format, e.NChannels = "jpeg", 1
		err = jpeg.Encode(&buf, toGray(src), &jpeg.Options{Quality: s.q})
	case jpegProgressive:
		e.Format, e.NChannels = "jpeg", 3
		buf.Write(progressiveJPEG)
		f := fixtureSrc["progressive.jpg"]
		e.Height, e.Width = int32(f.h), int32(f.w)
	case pngRGB:
		// Opaque NRGBA is written as colour type 2 (RGB, 8-bit): 3 channels.
		e.Format, e.NChannels, e.Data = "png", 3, expectNRGBA(src, 3)
		err = png.Encode(&buf, src)
	case pngRGBA:
		// Colour type 6: B, G, R, non-premultiplied A.
		m := withAlpha(src)
		e.Format, e.NChannels, e.Data = "png", 4, expectNRGBA(m, 4)
		err = png.Encode(&buf, m)
	case pngGray:
		g := toGray(src)
		e.Format, e.NChannels, e.Data = "png", 1, bytes.Clone(g.Pix)
		err = png.Encode(&buf, g)
	case pngPalette, pngPaletteAlpha:
		// Colour type 3; image/png writes tRNS only when some entry has
		// alpha < 255, which is exactly when Java's IndexColorModel has
		// alpha: 4 channels then, else 3.
		m := paletted(s.w, s.h, seed, s.k == pngPaletteAlpha)
		nch := 3
		if s.k == pngPaletteAlpha {
			nch = 4
		}
		e.Format, e.NChannels, e.Data = "png", int32(nch), expectPaletted(m, nch)
		err = png.Encode(&buf, m)
	case pngRGB16:
		// Opaque RGBA64 is written as 16-bit RGB; Java scales each sample
		// to round(v*255/65535).
		m := to16(src)
		e.Format, e.NChannels, e.Data = "png", 3, expect16(m.Pix, 8, 3)
		err = png.Encode(&buf, m)
	case pngGray16:
		// Spark keeps the low byte here; imageflight deliberately scales
		// (documented deviation), and the corpus expects the scaled value.
		m := gray16(src)
		e.Format, e.NChannels, e.Data = "png", 1, expect16(m.Pix, 2, 1)
		err = png.Encode(&buf, m)
	case gifOpaque, gifTransparent:
		// A GIF transparent index makes Java's colour model carry alpha.
		// image/gif stores the transparent entry as black, so it decodes
		// to B,G,R,A = 0,0,0,0 — which is also its value in palette().
		m := paletted(s.w, s.h, seed, s.k == gifTransparent)
		if s.k == gifTransparent {
			// GIF has a single transparent index: drop the half-transparent one.
			m.Palette[1] = color.NRGBA{10, 20, 30, 255}
		}
		nch := 3
		if s.k == gifTransparent {
			nch = 4
		}
		e.Format, e.NChannels, e.Data = "gif", int32(nch), expectPaletted(m, nch)
		err = gif.Encode(&buf, m, nil)
	case bmpRGB:
		e.Format, e.NChannels, e.Data = "bmp", 3, expectNRGBA(src, 3)
		err = bmp.Encode(&buf, src)
	case bmpPalette:
		m := paletted(s.w, s.h, seed, false)
		e.Format, e.NChannels, e.Data = "bmp", 3, expectPaletted(m, 3)
		err = bmp.Encode(&buf, m)
	case tiffRGB:
		// x/image/tiff writes RGB images with an associated-alpha sample
		// (ExtraSamples=1); Java's TIFF reader then has an alpha colour
		// model, so Spark yields 4 channels with A=255.
		e.Format, e.NChannels, e.Data = "tiff", 4, expectNRGBA(src, 4)
		err = tiff.Encode(&buf, src, &tiff.Options{Compression: tiff.Deflate})
	case tiffGray:
		g := toGray(src)
		e.Format, e.NChannels, e.Data = "tiff", 1, bytes.Clone(g.Pix)
		err = tiff.Encode(&buf, g, nil)
	case tiffNRGBA:
		m := withAlpha(src)
		e.Format, e.NChannels, e.Data = "tiff", 4, expectNRGBA(m, 4)
		err = tiff.Encode(&buf, m, &tiff.Options{Compression: tiff.Deflate})
	case webpLossless:
		// Java has no WebP reader (Spark rows would be invalid); imageflight
		// decodes it: opaque lossless WebP gives 3 channels.
		f := fixtureSrc["lossless.webp"]
		e.Height, e.Width = int32(f.h), int32(f.w)
		e.Format, e.NChannels, e.Data = "webp", 3, expectNRGBA(photo(f.w, f.h, f.seed), 3)
		buf.Write(losslessWebP)
	case webpLossy:
		f := fixtureSrc["lossy.webp"]
		e.Height, e.Width = int32(f.h), int32(f.w)
		e.Format, e.NChannels = "webp", 3
		buf.Write(lossyWebP)
	default:
		return nil, e, fmt.Errorf("unknown kind %d", s.k)
	}
	e.Mode = map[int32]int32{1: modeGray, 3: modeBGR, 4: modeBGRA}[e.NChannels]
	return buf.Bytes(), e, err
}

// expectNRGBA lays out non-premultiplied pixels as B,G,R(,A).
func expectNRGBA(m *image.NRGBA, nch int) []byte {
	out := make([]byte, 0, m.Rect.Dx()*m.Rect.Dy()*nch)
	for i := 0; i < len(m.Pix); i += 4 {
		out = append(out, m.Pix[i+2], m.Pix[i+1], m.Pix[i])
		if nch == 4 {
			out = append(out, m.Pix[i+3])
		}
	}
	return out
}

// expectPaletted looks every index up in the (NRGBA) palette.
func expectPaletted(m *image.Paletted, nch int) []byte {
	out := make([]byte, 0, len(m.Pix)*nch)
	for _, idx := range m.Pix {
		c := m.Palette[idx].(color.NRGBA)
		out = append(out, c.B, c.G, c.R)
		if nch == 4 {
			out = append(out, c.A)
		}
	}
	return out
}

// expect16 scales big-endian 16-bit samples (step bytes per pixel, the
// first nch*2 of them used, R first) to 8 bits and reorders to B,G,R.
func expect16(pix []byte, step, nch int) []byte {
	scale := func(i int) byte {
		v := int(pix[i])<<8 | int(pix[i+1])
		return byte((v*255 + 32767) / 65535)
	}
	out := make([]byte, 0, len(pix)/step*nch)
	for i := 0; i < len(pix); i += step {
		if nch == 1 {
			out = append(out, scale(i))
			continue
		}
		out = append(out, scale(i+4), scale(i+2), scale(i))
	}
	return out
}
