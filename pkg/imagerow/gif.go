package imagerow

import (
	"image/color"
)

// gifInfo is the colour table and transparency of a GIF's first frame, read
// straight from the file because image/gif replaces the transparent entry
// with {0,0,0,0} and so loses the RGB that Java keeps.
type gifInfo struct {
	table    []byte // active colour table, 3 bytes per entry
	hasTrans bool
	trans    int
}

// scanGIF walks the block structure up to the first image descriptor. ok is
// false when the file does not parse; the decoder's own palette is then
// used as is (and the decoder will most likely reject the file anyway).
func scanGIF(data []byte) (info gifInfo, ok bool) {
	if len(data) < 13 {
		return info, false
	}
	p := 13
	if flags := data[10]; flags&0x80 != 0 {
		n := 3 << (int(flags&7) + 1)
		if p+n > len(data) {
			return info, false
		}
		info.table = data[p : p+n]
		p += n
	}
	for p < len(data) {
		switch data[p] {
		case 0x21: // extension
			if p+2 > len(data) {
				return info, false
			}
			label := data[p+1]
			p += 2
			if label == 0xF9 && p+5 <= len(data) && data[p] == 4 {
				// Graphic control extension: the last one before the image wins.
				info.hasTrans = data[p+1]&1 != 0
				info.trans = int(data[p+4])
			}
			// Skip data sub-blocks up to the zero-length terminator.
			for {
				if p >= len(data) {
					return info, false
				}
				n := int(data[p])
				p += 1 + n
				if n == 0 {
					break
				}
			}
		case 0x2C: // image descriptor
			if p+10 > len(data) {
				return info, false
			}
			if flags := data[p+9]; flags&0x80 != 0 {
				n := 3 << (int(flags&7) + 1)
				if p+10+n > len(data) {
					return info, false
				}
				info.table = data[p+10 : p+10+n]
			}
			return info, info.table != nil
		default:
			return info, false
		}
	}
	return info, false
}

// javaPalette builds the palette Java's GIFImageReader gives the first
// frame: the colour table padded with black to a power of two (2, 4, 16 or
// 256 entries — Java never uses 8), and, if the frame declares a transparent
// index, that entry (clamped to the last one, for files that say 255 with a
// smaller table) made fully transparent but keeping its RGB. Any declared
// transparency makes the colour model carry alpha, hence 4 channels.
func (g gifInfo) javaPalette() color.Palette {
	n := len(g.table) / 3
	lut := javaTableSize(n)
	pal := make(color.Palette, lut)
	for i := range pal {
		c := color.NRGBA{A: 0xff}
		if i < n {
			c.R, c.G, c.B = g.table[3*i], g.table[3*i+1], g.table[3*i+2]
		}
		pal[i] = c
	}
	if g.hasTrans {
		i := min(g.trans, lut-1)
		c := pal[i].(color.NRGBA)
		c.A = 0
		pal[i] = c
	}
	return pal
}

// javaTableSize is the size Java's ImageIO gives a colour table of n
// entries: rounded up to 2, 4, 16 or 256 (the sizes of its indexed models).
func javaTableSize(n int) int {
	switch {
	case n <= 2:
		return 2
	case n <= 4:
		return 4
	case n <= 16:
		return 16
	}
	return 256
}
