package imagerow

import (
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// photo is a deterministic photo-like frame: smooth gradients, a few soft
// blobs and sensor-like noise, so JPEG has realistic entropy.
func photo(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(7, 7))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			blob := 60 * math.Sin(fx*9+math.Cos(fy*7)) * math.Cos(fy*5)
			n := rng.NormFloat64() * 6
			c := func(v float64) uint8 { return uint8(max(0, min(255, v))) }
			m.Pix[m.PixOffset(x, y)+0] = c(200*fx + blob + n)
			m.Pix[m.PixOffset(x, y)+1] = c(150*fy + 60 + blob/2 + n)
			m.Pix[m.PixOffset(x, y)+2] = c(220 - 180*fx*fy - blob + n)
			m.Pix[m.PixOffset(x, y)+3] = 255
		}
	}
	return m
}

func benchDecode(b *testing.B, data []byte) { benchDecodeOpts(b, data, DefaultOptions()) }

// benchDecodeOpts reports decoded megapixels per second (one goroutine, so
// per core).
func benchDecodeOpts(b *testing.B, data []byte, opts Options) {
	b.Helper()
	row, err := Decode("bench", data, opts)
	if err != nil {
		b.Fatal(err)
	}
	px := float64(row.Height) * float64(row.Width)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Decode("bench", data, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(px*float64(b.N)/b.Elapsed().Seconds()/1e6, "MP/s")
}

func BenchmarkDecode(b *testing.B) {
	const w, h = 1920, 1080
	src := photo(w, h)
	enc := func(f func(*bytes.Buffer) error) []byte {
		var buf bytes.Buffer
		if err := f(&buf); err != nil {
			b.Fatal(err)
		}
		return buf.Bytes()
	}
	gray := image.NewGray(src.Rect)
	for i := range gray.Pix {
		gray.Pix[i] = src.Pix[4*i+1]
	}
	nrgba := image.NewNRGBA(src.Rect)
	copy(nrgba.Pix, src.Pix)
	for i := 3; i < len(nrgba.Pix); i += 4 {
		nrgba.Pix[i] = byte(i / 4 % 251)
	}
	cases := []struct {
		name string
		data func() []byte
	}{
		{"JPEG-q90", func() []byte {
			return enc(func(w *bytes.Buffer) error { return jpeg.Encode(w, src, &jpeg.Options{Quality: 90}) })
		}},
		{"JPEG-gray", func() []byte {
			return enc(func(w *bytes.Buffer) error { return jpeg.Encode(w, gray, &jpeg.Options{Quality: 90}) })
		}},
		{"PNG-RGB", func() []byte { return enc(func(w *bytes.Buffer) error { return png.Encode(w, src) }) }},
		{"PNG-RGBA", func() []byte { return enc(func(w *bytes.Buffer) error { return png.Encode(w, nrgba) }) }},
		{"GIF", func() []byte {
			return enc(func(w *bytes.Buffer) error { return gif.Encode(w, src, &gif.Options{NumColors: 256}) })
		}},
		{"BMP", func() []byte { return enc(func(w *bytes.Buffer) error { return bmp.Encode(w, src) }) }},
		{"TIFF", func() []byte { return enc(func(w *bytes.Buffer) error { return tiff.Encode(w, src, nil) }) }},
		{"WebP-lossy", func() []byte { return cwebp(b, src, "-q", "80") }},
		{"WebP-lossless", func() []byte { return cwebp(b, src, "-lossless", "-z", "1") }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { benchDecode(b, c.data()) })
	}
}

// cwebp encodes with the cwebp tool (x/image has no WebP encoder); the
// benchmark is skipped where it is not installed.
func cwebp(b *testing.B, m image.Image, args ...string) []byte {
	path, err := exec.LookPath("cwebp")
	if err != nil {
		b.Skip("cwebp not installed")
	}
	dir := b.TempDir()
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		b.Fatal(err)
	}
	in, out := filepath.Join(dir, "in.png"), filepath.Join(dir, "out.webp")
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := exec.Command(path, append(append([]string{"-quiet"}, args...), in, "-o", out)...).Run(); err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkFiles decodes every file in $IMAGEFLIGHT_BENCH_DIR (see
// test/bench/decoders.sh), each as a sub-benchmark reporting MP/s, once
// with fresh buffers and once with a reused Options.Alloc buffer — the
// way a peer tool such as tjbench decodes into one buffer.
func BenchmarkFiles(b *testing.B) {
	dir := os.Getenv("IMAGEFLIGHT_BENCH_DIR")
	if dir == "" {
		b.Skip("IMAGEFLIGHT_BENCH_DIR not set")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil || Sniff(data) == "" {
			continue
		}
		b.Run(filepath.Base(f), func(b *testing.B) { benchDecode(b, data) })
		b.Run(filepath.Base(f)+"/reuse", func(b *testing.B) {
			var buf []byte
			opts := DefaultOptions()
			opts.Alloc = func(n int) []byte {
				if cap(buf) < n {
					buf = make([]byte, n)
				}
				return buf[:n]
			}
			benchDecodeOpts(b, data, opts)
		})
	}
}
