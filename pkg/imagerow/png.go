package imagerow

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
)

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// PNG colour types (IHDR byte 9).
const (
	pngGray      = 0
	pngRGB       = 2
	pngPalette   = 3
	pngGrayAlpha = 4
	pngRGBA      = 6
)

// pngInfo is what Java's PNGImageReader looks at before choosing the
// BufferedImage type — and so Spark's channel count — and what Go's
// image/png does not expose: the IHDR fields, the PLTE size and the tRNS
// chunk (only those before the first IDAT count, as in Java).
type pngInfo struct {
	width, height int
	depth, ctype  int
	plteEntries   int    // number of PLTE entries, 0 if none
	trns          []byte // tRNS payload if Java would accept it, else nil
}

// scanPNG walks the chunk list up to the first IDAT. It only reads lengths
// and types, so it costs nothing next to the inflate that follows.
func scanPNG(data []byte) (pngInfo, error) {
	var info pngInfo
	if !bytes.HasPrefix(data, pngSignature) {
		return info, errors.New("not a PNG")
	}
	p := data[len(pngSignature):]
	first := true
	for {
		if len(p) < 8 {
			return info, errors.New("png: truncated before IDAT")
		}
		n := binary.BigEndian.Uint32(p[0:4])
		typ := string(p[4:8])
		if uint64(n)+12 > uint64(len(p)) {
			return info, fmt.Errorf("png: chunk %q overruns the file", typ)
		}
		body := p[8 : 8+n]
		if first {
			if typ != "IHDR" || n != 13 {
				return info, errors.New("png: first chunk is not IHDR")
			}
			w, h := binary.BigEndian.Uint32(body[0:4]), binary.BigEndian.Uint32(body[4:8])
			if w == 0 || h == 0 || w > 1<<31-1 || h > 1<<31-1 {
				return info, fmt.Errorf("png: bad dimensions %dx%d", w, h)
			}
			info.width, info.height = int(w), int(h)
			info.depth, info.ctype = int(body[8]), int(body[9])
			first = false
		}
		switch typ {
		case "IDAT":
			return info, nil
		case "PLTE":
			if info.plteEntries == 0 {
				info.plteEntries = int(n) / 3
			}
		case "tRNS":
			info.trns = acceptTRNS(info, body)
		case "IEND":
			return info, errors.New("png: no IDAT chunk")
		}
		p = p[12+n:]
	}
}

// acceptTRNS mirrors PNGImageReader.parse_tRNS_chunk: tRNS of the wrong
// length for gray/RGB, a palette tRNS before PLTE, and any tRNS on
// gray+alpha or RGBA images are ignored.
func acceptTRNS(info pngInfo, body []byte) []byte {
	switch info.ctype {
	case pngGray:
		if len(body) == 2 {
			return body
		}
	case pngRGB:
		if len(body) == 6 {
			return body
		}
	case pngPalette:
		if info.plteEntries > 0 {
			return body
		}
	}
	return nil
}

// channels is Java ImageIO's (and so Spark's) channel count for the PNG.
// Java reads 1/2/4-bit gray as an IndexColorModel (sRGB, 3 channels) unless
// a tRNS chunk makes it a gray+alpha image (gray colour space, 1 channel);
// gray+alpha always drops alpha; RGB with tRNS gains alpha; a palette has
// alpha only if some tRNS entry is not 255 (IndexColorModel transparency).
func (info pngInfo) channels() int {
	switch info.ctype {
	case pngGray:
		if info.trns == nil && info.depth < 8 {
			return 3
		}
		return 1
	case pngRGB:
		if info.trns != nil {
			return 4
		}
		return 3
	case pngPalette:
		n := min(len(info.trns), 1<<info.depth)
		for _, a := range info.trns[:n] {
			if a != 0xff {
				return 4
			}
		}
		return 3
	case pngGrayAlpha:
		return 1
	}
	return 4
}

// decodePNG checks the header against the budget and the IDAT size limit,
// then decodes — in C (png_cgo.go) when cgo is enabled and the chunk list
// is clean, else with image/png — and lays out the pixels per Java's
// channel choice.
func decodePNG(ctx context.Context, origin string, data []byte, opts Options) (Row, error) {
	return decodePNGWith(ctx, origin, data, opts, true)
}

// decodePNGWith is decodePNG with the C path optional (tests compare the
// two).
func decodePNGWith(ctx context.Context, origin string, data []byte, opts Options, useLib bool) (Row, error) {
	info, err := scanPNG(data)
	if err != nil {
		return Row{}, err
	}
	nch := info.channels()
	if err := checkSize(info.height, info.width, nch, opts.maxPixels()); err != nil {
		return Row{}, err
	}
	if n, limit := pngIDATBytes(data), info.idatLimit(); n > limit {
		return Row{}, fmt.Errorf("%w: png has %d bytes of IDAT data, more than %d for %dx%d pixels", ErrDecodeLimit, n, limit, info.width, info.height)
	}
	if useLib {
		row, ok, err := decodePNGLib(ctx, origin, data, info, nch, opts)
		if ok {
			return row, err
		}
		if buf := row.Data; buf != nil {
			opts.Alloc = func(n int) []byte { return buf[:n] }
		}
	}
	img, err := png.Decode(newCtxReader(ctx, data))
	if err != nil {
		return Row{}, fmt.Errorf("decode png: %w", err)
	}
	if p, ok := img.(*image.Paletted); ok && info.ctype == pngPalette {
		p.Palette = info.javaPalette(p.Palette)
	}
	return makeRow(origin, img, nch, opts), nil
}

// idatLimit is the most IDAT data a PNG of info's size and format may
// carry: its filtered pixel bytes plus a quarter (no deflate encoder
// expands data by more than ~12 %, stored blocks by 0.01 %) plus 1 MiB.
// More is junk or an attack: image/png would inflate all of it (a stream
// of empty deflate blocks inflates to nothing, slowly), so both paths
// reject such files up front.
func (info pngInfo) idatLimit() int64 {
	spp := map[int]int64{pngGray: 1, pngRGB: 3, pngPalette: 1, pngGrayAlpha: 2, pngRGBA: 4}[info.ctype]
	bits := spp * int64(info.depth)
	if bits == 0 {
		bits = 64 // unknown type: image/png rejects it; be generous
	}
	w, h := int64(info.width), int64(info.height)
	// Filtered size with Adam7 (slightly more than without: each pass row
	// has its own filter byte and padding); exact for non-interlaced too.
	var raw int64
	for _, p := range adam7Passes {
		if w > p[0] && h > p[1] {
			pw, ph := (w-p[0]+p[2]-1)/p[2], (h-p[1]+p[3]-1)/p[3]
			raw += ph * (1 + (pw*bits+7)/8)
		}
	}
	return raw + raw/4 + 1<<20
}

// adam7Passes lists the interlace passes: x0, y0, dx, dy.
var adam7Passes = [7][4]int64{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}

// pngIDATBytes sums the lengths of every IDAT chunk (stopping quietly at a
// malformed chunk: the decoders report those).
func pngIDATBytes(data []byte) int64 {
	var n int64
	p := data[len(pngSignature):]
	for len(p) >= 12 {
		l := binary.BigEndian.Uint32(p)
		if uint64(l)+12 > uint64(len(p)) {
			break
		}
		if string(p[4:8]) == "IDAT" {
			n += int64(l)
		}
		p = p[12+l:]
	}
	return n
}

// javaPalette fixes the entries Go's decoder invents for pixel indices past
// the end of PLTE (Go: opaque black). Java rounds the PLTE table up to 2, 4,
// 16 or 256 entries with black, then pads to 2^depth with copies of the
// last entry of that rounded table, all opaque. Such files violate the spec,
// but matching Java keeps the bytes equal to Spark's.
func (info pngInfo) javaPalette(pal color.Palette) color.Palette {
	np := info.plteEntries
	if np <= 0 || len(pal) <= np {
		return pal
	}
	rounded := javaTableSize(np)
	last := color.NRGBA{A: 0xff}
	if rounded == np {
		n := color.NRGBAModel.Convert(pal[np-1]).(color.NRGBA)
		last = color.NRGBA{R: n.R, G: n.G, B: n.B, A: 0xff}
	}
	for i := np; i < len(pal); i++ {
		if i < rounded {
			pal[i] = color.NRGBA{A: 0xff}
		} else {
			pal[i] = last
		}
	}
	return pal
}
