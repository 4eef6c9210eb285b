//go:build cgo

package imagerow

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/imageflight/imageflight/pkg/imagerow/internal/jpegenc"
)

// jpegSample is the 33x17 source of the JPEG and lossy WebP fixtures:
// gradients plus a little texture, so both smooth and busy blocks occur.
func jpegSample(x, y, c int) byte {
	v := []int{x*7 + y*3, 255 - x*5 - y*4, x*3 + y*9}[c] + int(sample8(x, y, c)%23)
	return byte(max(0, min(255, v)))
}

func generateFixtures(t *testing.T) {
	t.Helper()
	dir := "testdata"
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) []byte {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return out
	}
	for _, f := range losslessFixtures() {
		if f.gen != nil {
			write(f.name, f.gen())
		}
	}
	run("cwebp", "-quiet", "-lossless", "-exact", filepath.Join(dir, "png_rgb8.png"), "-o", filepath.Join(dir, "webp_lossless_rgb.webp"))
	run("cwebp", "-quiet", "-lossless", "-exact", filepath.Join(dir, "png_rgba8.png"), "-o", filepath.Join(dir, "webp_lossless_rgba.webp"))

	const w, h = 33, 17
	rgb := make([]byte, 0, w*h*3)
	grayPix := make([]byte, 0, w*h)
	cmyk := make([]byte, 0, w*h*4)
	src := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, b := jpegSample(x, y, 0), jpegSample(x, y, 1), jpegSample(x, y, 2)
			rgb = append(rgb, r, g, b)
			grayPix = append(grayPix, r)
			k := min(255-r, 255-g, 255-b)
			// Adobe CMYK is stored inverted (255 - ink).
			cmyk = append(cmyk, r+k, g+k, b+k, 255-k)
			src.Set(x, y, color.RGBA{r, g, b, 255})
		}
	}
	enc := func(name string, pix []byte, cs jpegenc.ColorSpace, o jpegenc.Options) {
		b, err := jpegenc.Encode(pix, w, h, cs, o)
		if err != nil {
			t.Fatal(err)
		}
		write(name, b)
	}
	enc("jpeg_420.jpg", rgb, jpegenc.YCbCr, jpegenc.Options{Quality: 85, HSamp: 2, VSamp: 2})
	enc("jpeg_422.jpg", rgb, jpegenc.YCbCr, jpegenc.Options{Quality: 85, HSamp: 2, VSamp: 1})
	enc("jpeg_444.jpg", rgb, jpegenc.YCbCr, jpegenc.Options{Quality: 95, HSamp: 1, VSamp: 1})
	enc("jpeg_progressive.jpg", rgb, jpegenc.YCbCr, jpegenc.Options{Quality: 85, Progressive: true})
	enc("jpeg_gray.jpg", grayPix, jpegenc.Gray, jpegenc.Options{Quality: 85})
	enc("jpeg_cmyk.jpg", cmyk, jpegenc.CMYK, jpegenc.Options{Quality: 90})
	enc("jpeg_ycck.jpg", cmyk, jpegenc.YCCK, jpegenc.Options{Quality: 90})

	// Golden decodes: djpeg for what it can write, this package otherwise.
	for _, name := range []string{"jpeg_420.jpg", "jpeg_422.jpg", "jpeg_444.jpg", "jpeg_progressive.jpg", "jpeg_gray.jpg"} {
		write(name+".bgr", pnmToSpark(t, run("djpeg", "-pnm", filepath.Join(dir, name))))
	}
	// WebP's golden is libwebp's own decode (dwebp), written after cwebp below.
	defer func() {
		write("webp_lossy.webp.bgr", pnmToSpark(t, run("dwebp", "-quiet", "-ppm", "-o", "-", filepath.Join(dir, "webp_lossy.webp"))))
	}()
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, src); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "src.png")
	if err := os.WriteFile(tmp, pngBuf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	run("cwebp", "-quiet", "-q", "80", tmp, "-o", filepath.Join(dir, "webp_lossy.webp"))
	for _, name := range []string{"jpeg_cmyk.jpg", "jpeg_ycck.jpg"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		row, err := Decode(name, data, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		write(name+".bgr", row.Data)
	}
}

// pnmToSpark turns djpeg's P6 (RGB) or P5 (gray) output into Spark bytes.
func pnmToSpark(t *testing.T, pnm []byte) []byte {
	r := bufio.NewReader(bytes.NewReader(pnm))
	var magic string
	var w, h, maxv int
	if _, err := fmt.Fscan(r, &magic, &w, &h, &maxv); err != nil {
		t.Fatal(err)
	}
	r.ReadByte() // the single whitespace after maxval
	n := w * h
	if magic == "P6" {
		n *= 3
	}
	pix := make([]byte, n)
	if _, err := io.ReadFull(r, pix); err != nil {
		t.Fatal(err)
	}
	if magic == "P6" {
		for i := 0; i < n; i += 3 {
			pix[i], pix[i+2] = pix[i+2], pix[i]
		}
	}
	return pix
}
