package imagerow

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// Run `go test ./pkg/imagerow/ -run Fixtures -update` (cgo build, with
// djpeg and cwebp installed) to regenerate testdata/.
var update = flag.Bool("update", false, "regenerate testdata fixtures and golden files")

const fw, fh = 7, 5 // lossless fixture size

// lossless is a fixture whose exact Spark bytes follow from the formulas
// in helpers_test.go.
type lossless struct {
	name string
	nch  int
	gen  func() []byte         // encodes the fixture (used by -update)
	want func(x, y int) []byte // expected channels of pixel (x, y), Spark order
}

func rgbOf(x, y int) []byte  { return []byte{sample8(x, y, 2), sample8(x, y, 1), sample8(x, y, 0)} }
func rgbaOf(x, y int) []byte { return append(rgbOf(x, y), sample8(x, y, 3)) }
func rgb16Of(x, y int) []byte {
	return []byte{want16(sample16(x, y, 2)), want16(sample16(x, y, 1)), want16(sample16(x, y, 0))}
}
func gray(v byte) []byte  { return []byte{v} }
func gray3(v byte) []byte { return []byte{v, v, v} }

// palColor is palette entry i of the palette fixtures.
func palColor(i int) [3]byte { return [3]byte{byte(i * 16), byte(255 - i*9), byte(i * i)} }

func plte(n int) []byte {
	var p []byte
	for i := 0; i < n; i++ {
		c := palColor(i)
		p = append(p, c[:]...)
	}
	return p
}

func palBGR(i int) []byte { c := palColor(i); return []byte{c[2], c[1], c[0]} }

var palTRNS = []byte{255, 0, 128, 255, 64, 255}

func palAlpha(i int) byte {
	if i < len(palTRNS) {
		return palTRNS[i]
	}
	return 255
}

func u16s(v ...int) []uint16 {
	out := make([]uint16, len(v))
	for i, x := range v {
		out[i] = uint16(x)
	}
	return out
}

func s8(x, y, c int) int  { return int(sample8(x, y, c)) }
func s16(x, y, c int) int { return int(sample16(x, y, c)) }

func goImage(kind string) image.Image {
	r := image.Rect(0, 0, fw, fh)
	switch kind {
	case "rgba":
		m := image.NewRGBA(r)
		for y := 0; y < fh; y++ {
			for x := 0; x < fw; x++ {
				m.Set(x, y, color.RGBA{sample8(x, y, 0), sample8(x, y, 1), sample8(x, y, 2), 255})
			}
		}
		return m
	case "nrgba":
		m := image.NewNRGBA(r)
		for y := 0; y < fh; y++ {
			for x := 0; x < fw; x++ {
				m.Set(x, y, color.NRGBA{sample8(x, y, 0), sample8(x, y, 1), sample8(x, y, 2), sample8(x, y, 3)})
			}
		}
		return m
	case "rgba64":
		m := image.NewRGBA64(r)
		for y := 0; y < fh; y++ {
			for x := 0; x < fw; x++ {
				m.Set(x, y, color.RGBA64{sample16(x, y, 0), sample16(x, y, 1), sample16(x, y, 2), 0xffff})
			}
		}
		return m
	case "gray":
		m := image.NewGray(r)
		for y := 0; y < fh; y++ {
			for x := 0; x < fw; x++ {
				m.Pix[y*m.Stride+x] = sample8(x, y, 0)
			}
		}
		return m
	case "gray16":
		m := image.NewGray16(r)
		for y := 0; y < fh; y++ {
			for x := 0; x < fw; x++ {
				m.SetGray16(x, y, color.Gray16{sample16(x, y, 0)})
			}
		}
		return m
	case "pal":
		var p color.Palette
		for i := 0; i < 16; i++ {
			c := palColor(i)
			p = append(p, color.RGBA{c[0], c[1], c[2], 255})
		}
		m := image.NewPaletted(r, p)
		for y := 0; y < fh; y++ {
			for x := 0; x < fw; x++ {
				m.Pix[y*m.Stride+x] = byte((x + 3*y) % 16)
			}
		}
		return m
	}
	panic(kind)
}

func encBMP(kind string) func() []byte {
	return func() []byte { var b bytes.Buffer; must(bmp.Encode(&b, goImage(kind))); return b.Bytes() }
}

func encTIFF(kind string, c tiff.CompressionType) func() []byte {
	return func() []byte {
		var b bytes.Buffer
		must(tiff.Encode(&b, goImage(kind), &tiff.Options{Compression: c}))
		return b.Bytes()
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// rgbTRNS / rgb16TRNS are the transparent colours: those of one pixel.
var rgbTRNS = []byte{0, sample8(2, 1, 0), 0, sample8(2, 1, 1), 0, sample8(2, 1, 2)}
var rgb16TRNS = func() []byte {
	var b []byte
	for c := 0; c < 3; c++ {
		v := sample16(3, 2, c)
		b = append(b, byte(v>>8), byte(v))
	}
	return b
}()

func losslessFixtures() []lossless {
	gifTable := plte(16)
	gifTable[15], gifTable[16], gifTable[17] = 200, 100, 50 // entry 5, transparent below
	return []lossless{
		{"png_gray1.png", 3, func() []byte {
			return encodePNG(fw, fh, 1, pngGray, nil, nil, func(x, y int) []uint16 { return u16s((x + y) & 1) })
		}, func(x, y int) []byte { return gray3(byte(((x + y) & 1) * 255)) }},
		{"png_gray2.png", 3, func() []byte {
			return encodePNG(fw, fh, 2, pngGray, nil, nil, func(x, y int) []uint16 { return u16s((x + 2*y) % 4) })
		}, func(x, y int) []byte { return gray3(byte(((x + 2*y) % 4) * 85)) }},
		{"png_gray4_trns.png", 1, func() []byte {
			return encodePNG(fw, fh, 4, pngGray, nil, []byte{0, 5}, func(x, y int) []uint16 { return u16s((3*x + y) % 16) })
		}, func(x, y int) []byte { return gray(byte(((3*x + y) % 16) * 17)) }},
		{"png_gray8.png", 1, func() []byte {
			return encodePNG(fw, fh, 8, pngGray, nil, nil, func(x, y int) []uint16 { return u16s(s8(x, y, 0)) })
		}, func(x, y int) []byte { return gray(sample8(x, y, 0)) }},
		{"png_gray8_trns.png", 1, func() []byte {
			return encodePNG(fw, fh, 8, pngGray, nil, []byte{0, sample8(1, 1, 0)}, func(x, y int) []uint16 { return u16s(s8(x, y, 0)) })
		}, func(x, y int) []byte { return gray(sample8(x, y, 0)) }},
		// Deliberate deviation from Spark (which keeps the low byte).
		{"png_gray16.png", 1, func() []byte {
			return encodePNG(fw, fh, 16, pngGray, nil, nil, func(x, y int) []uint16 { return u16s(s16(x, y, 0)) })
		}, func(x, y int) []byte { return gray(want16(sample16(x, y, 0))) }},
		{"png_graya8.png", 1, func() []byte {
			return encodePNG(fw, fh, 8, pngGrayAlpha, nil, nil, func(x, y int) []uint16 { return u16s(s8(x, y, 0), s8(x, y, 3)) })
		}, func(x, y int) []byte { return gray(sample8(x, y, 0)) }},
		{"png_graya16.png", 1, func() []byte {
			return encodePNG(fw, fh, 16, pngGrayAlpha, nil, nil, func(x, y int) []uint16 { return u16s(s16(x, y, 0), s16(x, y, 3)) })
		}, func(x, y int) []byte { return gray(want16(sample16(x, y, 0))) }},
		{"png_rgb8.png", 3, func() []byte {
			return encodePNG(fw, fh, 8, pngRGB, nil, nil, func(x, y int) []uint16 { return u16s(s8(x, y, 0), s8(x, y, 1), s8(x, y, 2)) })
		}, rgbOf},
		{"png_rgb8_trns.png", 4, func() []byte {
			return encodePNG(fw, fh, 8, pngRGB, nil, rgbTRNS, func(x, y int) []uint16 { return u16s(s8(x, y, 0), s8(x, y, 1), s8(x, y, 2)) })
		}, func(x, y int) []byte {
			a := byte(255)
			if sample8(x, y, 0) == rgbTRNS[1] && sample8(x, y, 1) == rgbTRNS[3] && sample8(x, y, 2) == rgbTRNS[5] {
				a = 0
			}
			return append(rgbOf(x, y), a)
		}},
		{"png_rgb16.png", 3, func() []byte {
			return encodePNG(fw, fh, 16, pngRGB, nil, nil, func(x, y int) []uint16 { return u16s(s16(x, y, 0), s16(x, y, 1), s16(x, y, 2)) })
		}, rgb16Of},
		{"png_rgb16_trns.png", 4, func() []byte {
			return encodePNG(fw, fh, 16, pngRGB, nil, rgb16TRNS, func(x, y int) []uint16 { return u16s(s16(x, y, 0), s16(x, y, 1), s16(x, y, 2)) })
		}, func(x, y int) []byte {
			a := byte(255)
			if x == 3 && y == 2 {
				a = 0
			}
			return append(rgb16Of(x, y), a)
		}},
		{"png_rgba8.png", 4, func() []byte {
			return encodePNG(fw, fh, 8, pngRGBA, nil, nil, func(x, y int) []uint16 { return u16s(s8(x, y, 0), s8(x, y, 1), s8(x, y, 2), s8(x, y, 3)) })
		}, rgbaOf},
		{"png_rgba8_interlaced.png", 4, func() []byte {
			return encodePNGi(fw, fh, 8, pngRGBA, true, nil, nil, func(x, y int) []uint16 { return u16s(s8(x, y, 0), s8(x, y, 1), s8(x, y, 2), s8(x, y, 3)) })
		}, rgbaOf},
		{"png_gray2_interlaced.png", 3, func() []byte {
			return encodePNGi(fw, fh, 2, pngGray, true, nil, nil, func(x, y int) []uint16 { return u16s((x + 2*y) % 4) })
		}, func(x, y int) []byte { return gray3(byte(((x + 2*y) % 4) * 85)) }},
		{"png_rgba16.png", 4, func() []byte {
			return encodePNG(fw, fh, 16, pngRGBA, nil, nil, func(x, y int) []uint16 {
				return u16s(s16(x, y, 0), s16(x, y, 1), s16(x, y, 2), s16(x, y, 3))
			})
		}, func(x, y int) []byte { return append(rgb16Of(x, y), want16(sample16(x, y, 3))) }},
		{"png_pal8.png", 3, func() []byte {
			return encodePNG(fw, fh, 8, pngPalette, plte(16), nil, func(x, y int) []uint16 { return u16s((x + 3*y) % 16) })
		}, func(x, y int) []byte { return palBGR((x + 3*y) % 16) }},
		{"png_pal8_trns.png", 4, func() []byte {
			return encodePNG(fw, fh, 8, pngPalette, plte(16), palTRNS, func(x, y int) []uint16 { return u16s((x + 3*y) % 16) })
		}, func(x, y int) []byte { i := (x + 3*y) % 16; return append(palBGR(i), palAlpha(i)) }},
		// A tRNS whose entries are all 255 leaves Java's IndexColorModel opaque.
		{"png_pal8_trns_opaque.png", 3, func() []byte {
			return encodePNG(fw, fh, 8, pngPalette, plte(16), []byte{255, 255}, func(x, y int) []uint16 { return u16s((x + 3*y) % 16) })
		}, func(x, y int) []byte { return palBGR((x + 3*y) % 16) }},
		{"png_pal2.png", 3, func() []byte {
			return encodePNG(fw, fh, 2, pngPalette, plte(4), nil, func(x, y int) []uint16 { return u16s((x + y) % 4) })
		}, func(x, y int) []byte { return palBGR((x + y) % 4) }},
		// Indices past PLTE: Java repeats the last entry of the table
		// rounded up to 16 entries ...
		{"png_pal_short16.png", 3, func() []byte {
			return encodePNG(fw, fh, 8, pngPalette, plte(16), nil, func(x, y int) []uint16 { return u16s((5*x + 3*y) % 24) })
		}, func(x, y int) []byte { return palBGR(min((5*x+3*y)%24, 15)) }},
		// ... which is black when PLTE itself was shorter than that.
		{"png_pal_short3.png", 3, func() []byte {
			return encodePNG(fw, fh, 8, pngPalette, plte(3), nil, func(x, y int) []uint16 { return u16s((x + y) % 6) })
		}, func(x, y int) []byte {
			if i := (x + y) % 6; i < 3 {
				return palBGR(i)
			}
			return []byte{0, 0, 0}
		}},
		{"gif_opaque.gif", 3, func() []byte {
			return encodeGIF(fw, fh, plte(16), -1, func(x, y int) byte { return byte((x + 3*y) % 16) })
		}, func(x, y int) []byte { return palBGR((x + 3*y) % 16) }},
		// Java keeps the transparent entry's RGB; image/gif zeroes it.
		{"gif_trans.gif", 4, func() []byte {
			return encodeGIF(fw, fh, gifTable, 5, func(x, y int) byte { return byte((x + 3*y) % 16) })
		}, func(x, y int) []byte {
			if i := (x + 3*y) % 16; i != 5 {
				return append(palBGR(i), 255)
			}
			return []byte{50, 100, 200, 0}
		}},
		// Transparent index 255 with a 4-entry table: Java clamps to entry 3.
		{"gif_trans_oob.gif", 4, func() []byte {
			return encodeGIF(fw, fh, plte(4), 255, func(x, y int) byte { return byte((x + y) % 4) })
		}, func(x, y int) []byte {
			i := (x + y) % 4
			return append(palBGR(i), map[bool]byte{true: 0, false: 255}[i == 3])
		}},
		{"bmp_rgb24.bmp", 3, encBMP("rgba"), rgbOf},
		// x/image's encoder writes alpha into a 40-byte-header BMP, where
		// readers (Java, browsers, x/image) ignore it: 3 channels.
		{"bmp_rgbx32.bmp", 3, encBMP("nrgba"), rgbOf},
		{"bmp_rgba32_v4.bmp", 4, func() []byte {
			return encodeBMPv4(fw, fh, func(x, y int) [4]byte {
				return [4]byte{sample8(x, y, 0), sample8(x, y, 1), sample8(x, y, 2), sample8(x, y, 3)}
			})
		}, rgbaOf},
		{"bmp_pal8.bmp", 3, encBMP("pal"), func(x, y int) []byte { return palBGR((x + 3*y) % 16) }},
		// x/image/tiff stores RGBA with ExtraSamples=associated alpha, which
		// Java reads as an alpha colour model: 4 channels even if opaque.
		{"tiff_rgb.tiff", 4, encTIFF("rgba", tiff.Uncompressed), func(x, y int) []byte { return append(rgbOf(x, y), 255) }},
		{"tiff_nrgba_deflate.tiff", 4, encTIFF("nrgba", tiff.Deflate), rgbaOf},
		{"tiff_gray.tiff", 1, encTIFF("gray", tiff.Uncompressed), func(x, y int) []byte { return gray(sample8(x, y, 0)) }},
		{"tiff_gray16.tiff", 1, encTIFF("gray16", tiff.Deflate), func(x, y int) []byte { return gray(want16(sample16(x, y, 0))) }},
		{"tiff_rgb16.tiff", 4, encTIFF("rgba64", tiff.Uncompressed), func(x, y int) []byte { return append(rgb16Of(x, y), 255) }},
		{"tiff_pal.tiff", 3, encTIFF("pal", tiff.Uncompressed), func(x, y int) []byte { return palBGR((x + 3*y) % 16) }},
		// Lossless WebP made by cwebp -lossless -exact from the PNGs above.
		{"webp_lossless_rgb.webp", 3, nil, rgbOf},
		{"webp_lossless_rgba.webp", 4, nil, rgbaOf},
	}
}

func TestLosslessFixtures(t *testing.T) {
	if *update {
		generateFixtures(t)
	}
	for _, f := range losslessFixtures() {
		t.Run(f.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", f.name))
			if err != nil {
				t.Fatal(err)
			}
			row, err := Decode("file:/x/"+f.name, data, DefaultOptions())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := bgr(fw, fh, f.want)
			if row.Height != fh || row.Width != fw || int(row.NChannels) != f.nch || row.Mode != modeFor(f.nch) {
				t.Fatalf("shape = %dx%dx%d mode %d, want %dx%dx%d", row.Height, row.Width, row.NChannels, row.Mode, fh, fw, f.nch)
			}
			if !bytes.Equal(row.Data, want) {
				t.Fatalf("data mismatch\n got %v\nwant %v", row.Data, want)
			}
		})
	}
}

// golden is a lossy fixture compared with a golden decode. The golden bytes
// of JPEGs come from djpeg (libjpeg's own tool, default settings — the same
// library and settings Java's ImageIO uses), not from this package; those
// marked self came from this package's libjpeg path, for colour spaces djpeg
// cannot write (CMYK). The WebP golden is dwebp's (libwebp's own tool).
type golden struct {
	name      string
	h, w, nch int
}

var goldenFixtures = []golden{
	{"jpeg_420.jpg", 17, 33, 3},
	{"jpeg_422.jpg", 17, 33, 3},
	{"jpeg_444.jpg", 17, 33, 3},
	{"jpeg_progressive.jpg", 17, 33, 3},
	{"jpeg_gray.jpg", 17, 33, 1},
	{"jpeg_cmyk.jpg", 17, 33, 3}, // self
	{"jpeg_ycck.jpg", 17, 33, 3}, // self
	{"webp_lossy.webp", 17, 33, 3},
}

func TestGoldenFixtures(t *testing.T) {
	for _, g := range goldenFixtures {
		t.Run(g.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", g.name))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join("testdata", g.name+".bgr"))
			if err != nil {
				t.Fatal(err)
			}
			row, err := Decode(g.name, data, DefaultOptions())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if int(row.Height) != g.h || int(row.Width) != g.w || int(row.NChannels) != g.nch {
				t.Fatalf("shape = %dx%dx%d, want %dx%dx%d", row.Height, row.Width, row.NChannels, g.h, g.w, g.nch)
			}
			maxDiff, psnr := compare(row.Data, want)
			dec, exact := JPEGDecoder, JPEGDecoder == "libjpeg-turbo"
			if filepath.Ext(g.name) == ".webp" {
				dec, exact = WebPDecoder, WebPDecoder == "libwebp"
			}
			if exact && maxDiff != 0 {
				t.Fatalf("%s: max abs diff %d vs golden, want exact", dec, maxDiff)
			}
			// x/image/webp upsamples chroma by replication where libwebp
			// interpolates ("fancy"): on this tiny, busy image that costs
			// a few dB more than image/jpeg's approximations do.
			minPSNR := 30.0
			if dec == "x/image/webp" {
				minPSNR = 25
			}
			if psnr < minPSNR {
				t.Fatalf("PSNR %.1f dB (max diff %d), want >= %.0f", psnr, maxDiff, minPSNR)
			}
			t.Logf("%s: max diff %d, PSNR %.1f dB", dec, maxDiff, psnr)
		})
	}
}

// compare returns the largest absolute difference and the PSNR in dB
// (+Inf when equal).
func compare(got, want []byte) (int, float64) {
	if len(got) != len(want) {
		return 255, 0
	}
	maxDiff, sse := 0, 0.0
	for i := range got {
		d := int(got[i]) - int(want[i])
		if d < 0 {
			d = -d
		}
		maxDiff = max(maxDiff, d)
		sse += float64(d * d)
	}
	if sse == 0 {
		return 0, math.Inf(1)
	}
	return maxDiff, 10 * math.Log10(255*255/(sse/float64(len(got))))
}
