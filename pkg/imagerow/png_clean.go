//go:build cgo

package imagerow

import (
	"encoding/binary"
	"hash/crc32"
	"image/color"
)

// pngClean is what the C PNG path needs from the chunk list.
type pngClean struct {
	idat      int    // offset of the first IDAT chunk (its length field)
	interlace int    // 0 or 1 (Adam7)
	plte      []byte // PLTE body (palette images), else nil
	trns      []byte // tRNS body, else nil
}

// pngValidDepth reports whether image/png accepts the colour type and bit
// depth combination.
func pngValidDepth(ctype, depth int) bool {
	switch ctype {
	case pngGray:
		return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16
	case pngPalette:
		return depth == 1 || depth == 2 || depth == 4 || depth == 8
	case pngRGB, pngGrayAlpha, pngRGBA:
		return depth == 8 || depth == 16
	}
	return false
}

// pngCleanChunks walks every chunk up to IEND and accepts only files on
// which the C path and image/png cannot disagree about anything but the
// IDAT contents (which both then judge the same way): every CRC correct,
// a valid IHDR, chunk order and lengths image/png accepts for PLTE and
// tRNS (at most one each, before the IDATs; PLTE required for palette
// images, forbidden for gray ones), one run of IDATs, no unknown critical
// chunks, chunk names of letters, and an empty IEND. Anything else goes to
// image/png, which decides. One loop over the chunks, long because the
// rules it mirrors are image/png's, in image/png's order.
func pngCleanChunks(data []byte, info pngInfo) (pngClean, bool) {
	var c pngClean
	if !pngValidDepth(info.ctype, info.depth) {
		return c, false
	}
	p := data[len(pngSignature):]
	off := len(pngSignature)
	seenIDAT, idatDone := false, false
	for first := true; ; first = false {
		if len(p) < 12 {
			return c, false
		}
		n := binary.BigEndian.Uint32(p[0:4])
		if n > 0x7fffffff || uint64(n)+12 > uint64(len(p)) {
			return c, false
		}
		typ := string(p[4:8])
		for _, ch := range p[4:8] {
			if !('A' <= ch && ch <= 'Z' || 'a' <= ch && ch <= 'z') {
				return c, false
			}
		}
		if crc32.ChecksumIEEE(p[4:8+n]) != binary.BigEndian.Uint32(p[8+n:12+n]) {
			return c, false
		}
		body := p[8 : 8+n]
		if first != (typ == "IHDR") {
			return c, false
		}
		if typ == "IDAT" {
			if idatDone {
				return c, false
			}
			if !seenIDAT {
				c.idat = off
			}
			seenIDAT = true
		} else if seenIDAT {
			idatDone = true
		}
		switch typ {
		case "IHDR":
			if n != 13 || body[10] != 0 || body[11] != 0 || body[12] > 1 {
				return c, false
			}
			c.interlace = int(body[12])
		case "PLTE":
			np := int(n) / 3
			if c.plte != nil || c.trns != nil || seenIDAT || n%3 != 0 || np == 0 || np > 256 {
				return c, false
			}
			switch info.ctype {
			case pngPalette:
				if np > 1<<info.depth {
					return c, false
				}
			case pngRGB, pngRGBA:
			default:
				return c, false
			}
			c.plte = body
		case "tRNS":
			if c.trns != nil || seenIDAT {
				return c, false
			}
			switch {
			case info.ctype == pngGray && n == 2, info.ctype == pngRGB && n == 6:
			case info.ctype == pngPalette && c.plte != nil && n <= 256:
			default:
				return c, false
			}
			c.trns = body
		case "IEND":
			if info.ctype == pngPalette && c.plte == nil {
				return c, false
			}
			return c, n == 0 && seenIDAT
		case "IDAT":
			if info.ctype == pngPalette && c.plte == nil {
				return c, false
			}
		default:
			if typ[0]&0x20 == 0 { // critical chunk image/png would not know
				return c, false
			}
		}
		p = p[12+n:]
		off += 12 + int(n)
	}
}

// paletteLUT is the B,G,R,A table for palette indices 0..255 that the
// image/png path ends up with: PLTE entries opaque, tRNS alphas on the
// first len(trns) entries (image/png extends the palette with opaque black
// to cover them), then javaPalette's fix for entries past PLTE.
func (info pngInfo) paletteLUT(plte, trns []byte) (lut [1024]byte) {
	pal := make(color.Palette, 256)
	np := len(plte) / 3
	for i := range pal {
		if i < np {
			pal[i] = color.RGBA{plte[3*i], plte[3*i+1], plte[3*i+2], 0xff}
		} else {
			pal[i] = color.RGBA{0, 0, 0, 0xff}
		}
	}
	for i, a := range trns[:min(len(trns), 256)] {
		c := pal[i].(color.RGBA)
		pal[i] = color.NRGBA{c.R, c.G, c.B, a}
	}
	pal = info.javaPalette(pal)
	for i, c := range pal {
		n := color.NRGBAModel.Convert(c).(color.NRGBA)
		lut[4*i], lut[4*i+1], lut[4*i+2], lut[4*i+3] = n.B, n.G, n.R, n.A
	}
	return lut
}
