package imagerow

import (
	"image"
	"image/color"
)

// scale16 maps a 16-bit sample to 8 bits the way Java's ComponentColorModel
// does for 16-bit PNGs: round(v*255/65535).
func scale16(v uint16) byte { return byte((uint32(v)*255 + 32767) / 65535) }

// channelsForImage applies Spark's channel rule to a decoded image whose
// format carries no extra information (BMP, TIFF, WebP, GIF after its
// palette was rebuilt): gray colour models give 1 channel, colour models with
// alpha 4, the rest 3. Go's decoders return RGBA/NRGBA for both opaque and
// transparent files (x/image/bmp returns NRGBA for every 32-bit BMP), so for
// those types the pixels decide: any non-opaque pixel means 4 channels.
func channelsForImage(img image.Image) int {
	switch m := img.(type) {
	case *image.Gray, *image.Gray16:
		return 1
	case *image.Paletted:
		for _, c := range m.Palette {
			if _, _, _, a := c.RGBA(); a != 0xffff {
				return 4
			}
		}
		return 3
	case *image.YCbCr, *image.CMYK:
		return 3
	}
	if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
		return 3
	}
	return 4
}

// toBytes writes img as Spark's row-major B,G,R(,A) or gray bytes. The
// common concrete types are read straight from their Pix slices; anything
// else goes through the (slow) colour-model path. One switch over the
// concrete image types, each case a few lines: a table, not a procedure.
func toBytes(img image.Image, nch int, alloc func(int) []byte) []byte {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := alloc(w * h * nch)
	switch m := img.(type) {
	case *image.Gray:
		grayRows(out, m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), w, h, 1, nch)
		return out
	case *image.Gray16:
		if nch == 1 {
			// Deliberate deviation: Spark keeps the low byte of 16-bit gray
			// samples (Raster.getSample(...).toByte), which turns a smooth
			// ramp into noise. We scale like every colour path does.
			o := 0
			for y := 0; y < h; y++ {
				row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
				for x := 0; x < w; x++ {
					out[o] = scale16(uint16(row[2*x])<<8 | uint16(row[2*x+1]))
					o++
				}
			}
			return out
		}
	case *image.NRGBA:
		if nch == 1 {
			// Gray+alpha PNGs arrive as NRGBA with R=G=B: keep gray, drop
			// alpha, as Spark does for gray colour spaces.
			grayRows(out, m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), w, h, 4, 1)
			return out
		}
		rgba8Rows(out, m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), w, h, nch)
		return out
	case *image.NRGBA64:
		if nch == 1 {
			// 16-bit gray+alpha or gray with tRNS: scaled gray, alpha dropped.
			o := 0
			for y := 0; y < h; y++ {
				row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
				for x := 0; x < w; x++ {
					out[o] = scale16(uint16(row[8*x])<<8 | uint16(row[8*x+1]))
					o++
				}
			}
			return out
		}
		rgba16Rows(out, m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), w, h, nch)
		return out
	case *image.RGBA:
		if m.Opaque() {
			// Opaque premultiplied pixels are their own non-premultiplied
			// values, so no division is needed.
			rgba8Rows(out, m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), w, h, nch)
			return out
		}
	case *image.RGBA64:
		if m.Opaque() {
			rgba16Rows(out, m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), w, h, nch)
			return out
		}
	case *image.Paletted:
		palettedRows(out, m, nch)
		return out
	case *image.YCbCr:
		if nch == 3 {
			ycbcrRows(out, m)
			return out
		}
	case *image.CMYK:
		if nch == 3 {
			o := 0
			for y := 0; y < h; y++ {
				row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
				for x := 0; x < w; x++ {
					r, g, bb := color.CMYKToRGB(row[4*x], row[4*x+1], row[4*x+2], row[4*x+3])
					out[o], out[o+1], out[o+2] = bb, g, r
					o += 3
				}
			}
			return out
		}
	}
	genericRows(out, img, nch)
	return out
}

// grayRows copies one byte per pixel (taken every step bytes) into nch
// identical output channels.
func grayRows(out, pix []byte, stride, off, w, h, step, nch int) {
	o := 0
	for y := 0; y < h; y++ {
		row := pix[off+y*stride:]
		switch {
		case step == 1 && nch == 1:
			copy(out[o:o+w], row[:w])
			o += w
		case nch == 1:
			for x := 0; x < w; x++ {
				out[o] = row[x*step]
				o++
			}
		default:
			for x := 0; x < w; x++ {
				v := row[x*step]
				out[o], out[o+1], out[o+2] = v, v, v
				o += 3
			}
		}
	}
}

// rgba8Rows reorders 8-bit R,G,B,A pixels into B,G,R(,A).
func rgba8Rows(out, pix []byte, stride, off, w, h, nch int) {
	o := 0
	for y := 0; y < h; y++ {
		row := pix[off+y*stride : off+y*stride+4*w]
		if nch == 4 {
			for x := 0; x+3 < len(row); x += 4 {
				out[o], out[o+1], out[o+2], out[o+3] = row[x+2], row[x+1], row[x], row[x+3]
				o += 4
			}
			continue
		}
		for x := 0; x+3 < len(row); x += 4 {
			out[o], out[o+1], out[o+2] = row[x+2], row[x+1], row[x]
			o += 3
		}
	}
}

// rgba16Rows reorders and scales big-endian 16-bit R,G,B,A pixels
// (non-premultiplied, or opaque) into 8-bit B,G,R(,A).
func rgba16Rows(out, pix []byte, stride, off, w, h, nch int) {
	o := 0
	for y := 0; y < h; y++ {
		row := pix[off+y*stride : off+y*stride+8*w]
		for x := 0; x+7 < len(row); x += 8 {
			r := uint16(row[x])<<8 | uint16(row[x+1])
			g := uint16(row[x+2])<<8 | uint16(row[x+3])
			bb := uint16(row[x+4])<<8 | uint16(row[x+5])
			out[o], out[o+1], out[o+2] = scale16(bb), scale16(g), scale16(r)
			if nch == 4 {
				out[o+3] = scale16(uint16(row[x+6])<<8 | uint16(row[x+7]))
			}
			o += nch
		}
	}
}

// palettedRows expands palette indices through a 256-entry B,G,R,A table
// built once per image. Indices past the palette read as opaque black.
func palettedRows(out []byte, m *image.Paletted, nch int) {
	var lut [256][4]byte
	for i := range lut {
		lut[i] = [4]byte{0, 0, 0, 0xff}
	}
	for i, c := range m.Palette {
		if i >= len(lut) {
			break
		}
		n := color.NRGBAModel.Convert(c).(color.NRGBA)
		lut[i] = [4]byte{n.B, n.G, n.R, n.A}
	}
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	o := 0
	for y := 0; y < h; y++ {
		row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w]
		if nch == 4 {
			for _, idx := range row {
				copy(out[o:o+4], lut[idx][:])
				o += 4
			}
			continue
		}
		for _, idx := range row {
			e := &lut[idx]
			out[o], out[o+1], out[o+2] = e[0], e[1], e[2]
			o += 3
		}
	}
}

// ycbcrRows converts a (possibly chroma-subsampled) YCbCr image to BGR
// with Go's colour conversion. Subsampled chroma is replicated (nearest
// neighbour), which is what image/jpeg's own At() does.
func ycbcrRows(out []byte, m *image.YCbCr) {
	hs, vs := 1, 1
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		hs = 2
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		vs = 2
	case image.YCbCrSubsampleRatio411:
		hs = 4
	case image.YCbCrSubsampleRatio410:
		hs, vs = 4, 2
	}
	b := m.Rect
	o := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		yrow := m.Y[(y-b.Min.Y)*m.YStride:]
		crow := (y/vs - b.Min.Y/vs) * m.CStride
		for x := b.Min.X; x < b.Max.X; x++ {
			ci := crow + x/hs - b.Min.X/hs
			r, g, bb := color.YCbCrToRGB(yrow[x-b.Min.X], m.Cb[ci], m.Cr[ci])
			out[o], out[o+1], out[o+2] = bb, g, r
			o += 3
		}
	}
}

// genericRows is the slow path through image.Image.At and colour models,
// for types without a fast path. Colour comes from the non-premultiplied
// 16-bit model so alpha images keep full precision.
func genericRows(out []byte, img image.Image, nch int) {
	b := img.Bounds()
	o := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := img.At(x, y)
			if nch == 1 {
				out[o] = scale16(color.Gray16Model.Convert(c).(color.Gray16).Y)
				o++
				continue
			}
			n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
			out[o], out[o+1], out[o+2] = scale16(n.B), scale16(n.G), scale16(n.R)
			if nch == 4 {
				out[o+3] = scale16(n.A)
			}
			o += nch
		}
	}
}
