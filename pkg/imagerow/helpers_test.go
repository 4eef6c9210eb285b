package imagerow

import (
	"bytes"
	"compress/lzw"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
)

// Fixture pixels come from these formulas, so the expected Spark bytes are
// computed here from first principles, never by the code under test.

// sample8 is channel c (0=R,1=G,2=B,3=A) of pixel (x, y), 8-bit.
func sample8(x, y, c int) byte {
	switch c {
	case 0:
		return byte(x*37 + y*11)
	case 1:
		return byte(x*5 + y*53 + 7)
	case 2:
		return byte(x*x*3 + y*19)
	}
	// Alpha spans 0 and 255 so both extremes are exercised.
	return [...]byte{0, 255, 128, 1, 254, 77, 200}[(x+2*y)%7]
}

// sample16 is a 16-bit sample whose high and low bytes differ, so
// keeping the low byte (Spark's 16-bit gray bug) would be caught.
func sample16(x, y, c int) uint16 {
	return uint16(sample8(x, y, c))<<8 | uint16(sample8(y, x, (c+1)%3)^0x5A)
}

// want16 is the Java colour-model scaling round(v*255/65535).
func want16(v uint16) byte { return byte((int(v)*255 + 32767) / 65535) }

// pngChunk appends one chunk with its CRC.
func pngChunk(buf *bytes.Buffer, typ string, body []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(body)))
	buf.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(body)
	buf.WriteString(typ)
	buf.Write(body)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	buf.Write(n[:])
}

// encodePNG writes a non-interlaced PNG from raw samples: samples(x, y)
// returns the pixel's samples at the given bit depth, which are packed
// MSB-first (depth < 8) or big-endian (16). Go's encoder cannot write
// gray+alpha, tRNS on gray/RGB or low bit depths, hence this writer.
func encodePNG(w, h, depth, ctype int, plte, trns []byte, samples func(x, y int) []uint16) []byte {
	return encodePNGi(w, h, depth, ctype, false, plte, trns, samples)
}

// adam7 lists the interlace passes: x0, y0, dx, dy.
var adam7 = [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}

// encodePNGi is encodePNG with optional Adam7 interlacing.
func encodePNGi(w, h, depth, ctype int, interlace bool, plte, trns []byte, samples func(x, y int) []uint16) []byte {
	return encodePNGf(w, h, depth, ctype, interlace, plte, trns, samples, false)
}

// encodePNGf is encodePNGi with optionally varied row filters: each row
// gets filter type y%5 when filters is true, so every unfilter path runs.
func encodePNGf(w, h, depth, ctype int, interlace bool, plte, trns []byte, samples func(x, y int) []uint16, filters ...bool) []byte {
	var buf bytes.Buffer
	buf.Write(pngSignature)
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = byte(depth), byte(ctype)
	passes := [][4]int{{0, 0, 1, 1}}
	if interlace {
		ihdr[12] = 1
		passes = adam7[:]
	}
	pngChunk(&buf, "IHDR", ihdr)
	if plte != nil {
		pngChunk(&buf, "PLTE", plte)
	}
	if trns != nil {
		pngChunk(&buf, "tRNS", trns)
	}
	var raw bytes.Buffer
	for _, p := range passes {
		if p[0] >= w || p[1] >= h {
			continue // empty pass: no scanlines at all
		}
		bpp := max(1, depth*len(samples(0, 0))/8)
		var prev []byte
		for y := p[1]; y < h; y += p[3] {
			var row bytes.Buffer
			var acc, nbits int
			for x := p[0]; x < w; x += p[2] {
				for _, s := range samples(x, y) {
					switch depth {
					case 16:
						row.WriteByte(byte(s >> 8))
						row.WriteByte(byte(s))
					case 8:
						row.WriteByte(byte(s))
					default:
						acc = acc<<depth | int(s)
						nbits += depth
						if nbits == 8 {
							row.WriteByte(byte(acc))
							acc, nbits = 0, 0
						}
					}
				}
			}
			if nbits > 0 {
				row.WriteByte(byte(acc << (8 - nbits)))
			}
			f := 0
			if len(filters) > 0 && filters[0] {
				f = y % 5
			}
			if prev == nil {
				prev = make([]byte, row.Len())
			}
			raw.WriteByte(byte(f))
			raw.Write(pngFilter(f, row.Bytes(), prev, bpp))
			prev = row.Bytes()
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	pngChunk(&buf, "IDAT", z.Bytes())
	pngChunk(&buf, "IEND", nil)
	return buf.Bytes()
}

// pngFilter applies PNG filter type f to row (prev is the row above, or
// zeros), the encoder side of what decoders undo.
func pngFilter(f int, row, prev []byte, bpp int) []byte {
	out := make([]byte, len(row))
	for i, v := range row {
		var a, c int
		if i >= bpp {
			a, c = int(row[i-bpp]), int(prev[i-bpp])
		}
		b := int(prev[i])
		var pred int
		switch f {
		case 1:
			pred = a
		case 2:
			pred = b
		case 3:
			pred = (a + b) / 2
		case 4:
			pa, pb, pc := abs(b-c), abs(a-c), abs(a+b-2*c)
			switch {
			case pa <= pb && pa <= pc:
				pred = a
			case pb <= pc:
				pred = b
			default:
				pred = c
			}
		}
		out[i] = v - byte(pred)
	}
	return out
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// encodeGIF writes a single-frame GIF with a global colour table and an
// optional transparent index, by hand, so the transparent entry keeps a
// non-zero RGB (Go's encoder zeroes it).
func encodeGIF(w, h int, table []byte, trans int, index func(x, y int) byte) []byte {
	var b bytes.Buffer
	b.WriteString("GIF89a")
	bits := 0
	for 3<<(bits+1) < len(table) {
		bits++
	}
	le := func(v int) { b.WriteByte(byte(v)); b.WriteByte(byte(v >> 8)) }
	le(w)
	le(h)
	b.Write([]byte{0x80 | byte(bits)<<4 | byte(bits), 0, 0})
	padded := make([]byte, 3<<(bits+1))
	copy(padded, table)
	b.Write(padded)
	if trans >= 0 {
		b.Write([]byte{0x21, 0xF9, 4, 1, 0, 0, byte(trans), 0})
	}
	b.WriteByte(0x2C)
	le(0)
	le(0)
	le(w)
	le(h)
	b.WriteByte(0)
	litWidth := max(bits+1, 2)
	b.WriteByte(byte(litWidth))
	var data bytes.Buffer
	lw := lzw.NewWriter(&data, lzw.LSB, litWidth)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			lw.Write([]byte{index(x, y)})
		}
	}
	lw.Close()
	d := data.Bytes()
	for len(d) > 0 {
		n := min(len(d), 255)
		b.WriteByte(byte(n))
		b.Write(d[:n])
		d = d[n:]
	}
	b.Write([]byte{0, 0x3B})
	return b.Bytes()
}

// bgr builds expected bytes pixel by pixel: px returns the pixel's
// channels already in Spark's order.
func bgr(w, h int, px func(x, y int) []byte) []byte {
	var out []byte
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			out = append(out, px(x, y)...)
		}
	}
	return out
}

// encodeBMPv4 writes a bottom-up 32-bit BMP with a BITMAPV4HEADER and
// BI_BITFIELDS masks that include alpha — the kind of BMP whose alpha both
// Java and x/image/bmp honour (x/image's own encoder writes the older
// 40-byte header, whose fourth byte both ignore).
func encodeBMPv4(w, h int, px func(x, y int) [4]byte) []byte {
	const hdr = 14 + 108
	size := hdr + w*h*4
	b := make([]byte, hdr, size)
	le32 := func(off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
	b[0], b[1] = 'B', 'M'
	le32(2, uint32(size))
	le32(10, hdr)
	le32(14, 108)
	le32(18, uint32(w))
	le32(22, uint32(h))
	binary.LittleEndian.PutUint16(b[26:], 1)  // planes
	binary.LittleEndian.PutUint16(b[28:], 32) // bpp
	le32(30, 3)                               // BI_BITFIELDS
	le32(34, uint32(w*h*4))
	le32(54, 0x00ff0000)
	le32(58, 0x0000ff00)
	le32(62, 0x000000ff)
	le32(66, 0xff000000)
	for y := h - 1; y >= 0; y-- {
		for x := 0; x < w; x++ {
			p := px(x, y) // R, G, B, A
			b = append(b, p[2], p[1], p[0], p[3])
		}
	}
	return b
}
