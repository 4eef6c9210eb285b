package corpus

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
)

// Embedded fixtures for encodings Go cannot write. They are made by
// `go test ./pkg/corpus/ -run Fixtures -update` (needs cjpeg and cwebp)
// from photo() with the sizes and seeds in fixtureSrc.
var (
	//go:embed fixtures/progressive.jpg
	progressiveJPEG []byte
	//go:embed fixtures/lossless.webp
	losslessWebP []byte
	//go:embed fixtures/lossy.webp
	lossyWebP []byte
)

// fixtureSrc are the sources of the embedded fixtures.
var fixtureSrc = map[string]struct {
	w, h int
	seed int64
}{
	"progressive.jpg": {160, 120, 901},
	"lossless.webp":   {96, 72, 902},
	"lossy.webp":      {128, 96, 903},
}

// kind names how a spec is encoded.
type kind int

const (
	jpegRGB kind = iota
	jpegGray
	jpegProgressive
	pngRGB
	pngRGBA
	pngGray
	pngPalette
	pngPaletteAlpha
	pngRGB16
	pngGray16
	gifOpaque
	gifTransparent
	bmpRGB
	bmpPalette
	tiffRGB
	tiffGray
	tiffNRGBA
	webpLossless
	webpLossy
)

type spec struct {
	k    kind
	w, h int
	q    int // JPEG quality
}

// specs is one repetition of the corpus: sizes from 32x24 to 640x480 so
// per-image overhead and per-pixel throughput both show in benchmarks.
var specs = []spec{
	{jpegRGB, 640, 480, 85}, {jpegRGB, 320, 240, 75}, {jpegRGB, 32, 24, 90}, {jpegRGB, 480, 360, 92},
	{jpegRGB, 640, 480, 70}, {jpegRGB, 250, 333, 85}, {jpegGray, 256, 192, 85}, {jpegGray, 64, 48, 80},
	{jpegProgressive, 160, 120, 0}, {jpegRGB, 400, 300, 88},
	{pngRGB, 200, 150, 0}, {pngRGB, 33, 17, 0}, {pngRGBA, 128, 96, 0}, {pngRGBA, 45, 31, 0},
	{pngGray, 160, 120, 0}, {pngPalette, 120, 90, 0}, {pngPaletteAlpha, 90, 60, 0},
	{pngRGB16, 100, 75, 0}, {pngGray16, 64, 48, 0}, {pngRGB, 320, 240, 0},
	{gifOpaque, 96, 64, 0}, {gifTransparent, 64, 48, 0}, {gifOpaque, 200, 150, 0},
	{bmpRGB, 160, 120, 0}, {bmpPalette, 80, 60, 0}, {bmpRGB, 37, 23, 0},
	{tiffRGB, 200, 150, 0}, {tiffGray, 100, 75, 0}, {tiffNRGBA, 64, 48, 0},
	{webpLossless, 96, 72, 0}, {webpLossy, 128, 96, 0},
	{jpegRGB, 48, 36, 60}, {pngRGB, 64, 64, 0}, {jpegRGB, 128, 128, 95}, {pngGray, 32, 24, 0}, {jpegRGB, 512, 384, 80},
	{pngRGB, 640, 480, 0}, {bmpRGB, 640, 480, 0}, {tiffRGB, 320, 240, 0},
}

func (s spec) ext() string {
	switch s.k {
	case jpegRGB, jpegGray, jpegProgressive:
		return "jpg"
	case gifOpaque, gifTransparent:
		return "gif"
	case bmpRGB, bmpPalette:
		return "bmp"
	case tiffRGB, tiffGray, tiffNRGBA:
		return "tiff"
	case webpLossless, webpLossy:
		return "webp"
	}
	return "png"
}

// photo is a deterministic photo-like image: smooth colour gradients, soft
// waves and Gaussian noise, so JPEG sizes and decode times are realistic.
func photo(w, h int, seed int64) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(uint64(seed), 0x1f2e3d4c))
	p1, p2 := rng.Float64()*6, rng.Float64()*6
	clamp := func(v float64) uint8 { return uint8(max(0, min(255, math.Round(v)))) }
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			wave := 50 * math.Sin(fx*7+p1) * math.Cos(fy*5+p2)
			n := rng.NormFloat64() * 5
			i := m.PixOffset(x, y)
			m.Pix[i+0] = clamp(40 + 180*fx + wave + n)
			m.Pix[i+1] = clamp(60 + 140*fy + wave/2 + n)
			m.Pix[i+2] = clamp(220 - 170*fx*fy - wave + n)
			m.Pix[i+3] = 255
		}
	}
	return m
}

// withAlpha gives photo an alpha ramp that includes 0 and 255.
func withAlpha(m *image.NRGBA) *image.NRGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Pix[m.PixOffset(x, y)+3] = uint8(min(255, (x*255/max(w-1, 1)+y*64)%320))
		}
	}
	return m
}

// palette is a deterministic 64-colour palette; with transparent set,
// entry 0 is fully transparent (and black, which is what GIF and PNG
// encoders store for it) and entry 1 half transparent.
func palette(transparent bool) color.Palette {
	p := make(color.Palette, 64)
	for i := range p {
		p[i] = color.NRGBA{uint8(i * 4), uint8(255 - i*3), uint8((i * 37) % 256), 255}
	}
	if transparent {
		p[0] = color.NRGBA{}
		p[1] = color.NRGBA{10, 20, 30, 128}
	}
	return p
}

func paletted(w, h int, seed int64, transparent bool) *image.Paletted {
	m := image.NewPaletted(image.Rect(0, 0, w, h), palette(transparent))
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// Bands plus some speckle.
			v := (x/6 + y/4) % 64
			if rng.IntN(10) == 0 {
				v = rng.IntN(64)
			}
			m.Pix[y*m.Stride+x] = uint8(v)
		}
	}
	return m
}

func toGray(m *image.NRGBA) *image.Gray {
	g := image.NewGray(m.Rect)
	for i := range g.Pix {
		p := m.Pix[4*i:]
		g.Pix[i] = uint8((299*int(p[0]) + 587*int(p[1]) + 114*int(p[2]) + 500) / 1000)
	}
	return g
}

// to16 widens photo to 16 bits with a low byte that differs from the high
// byte, so an 8-bit-only or low-byte decoder would be caught.
func to16(m *image.NRGBA) *image.RGBA64 {
	o := image.NewRGBA64(m.Rect)
	for i := 0; i < len(m.Pix); i += 4 {
		for c := 0; c < 3; c++ {
			v := uint16(m.Pix[i+c])<<8 | uint16(m.Pix[i+(c+1)%3]^0xA5)
			o.Pix[2*(i+c)], o.Pix[2*(i+c)+1] = uint8(v>>8), uint8(v)
		}
		o.Pix[2*(i+3)], o.Pix[2*(i+3)+1] = 0xff, 0xff
	}
	return o
}

func gray16(m *image.NRGBA) *image.Gray16 {
	g8 := toGray(m)
	o := image.NewGray16(m.Rect)
	for i, v := range g8.Pix {
		o.Pix[2*i], o.Pix[2*i+1] = v, v^0x3C
	}
	return o
}

// tinyPNG is a valid 1x1 PNG used for the hidden files.
func tinyPNG() []byte {
	var b bytes.Buffer
	_ = png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	return b.Bytes()
}

type brokenFile struct {
	rel  string
	data []byte
}

// broken are the undecodable files every corpus contains.
func broken() []brokenFile {
	var j bytes.Buffer
	_ = jpeg.Encode(&j, photo(320, 240, 77), &jpeg.Options{Quality: 85})
	return []brokenFile{
		{"cls=cats/split=test/truncated.jpg", j.Bytes()[:j.Len()/2]},
		{"cls=dogs/split=test/empty.jpg", []byte{}},
		{"cls=birds/split=train/notes.png", []byte("this is a text file with a .png name\n")},
		{"cls=birds/split=test/huge.png", bombPNG(100000, 100000)},
	}
}

// bombPNG is a well-formed PNG header claiming w x h with a tiny IDAT.
func bombPNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, body []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(body)))
		b.WriteString(typ)
		b.Write(body)
		_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), body...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}
