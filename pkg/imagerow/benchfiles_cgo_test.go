//go:build cgo

package imagerow

import (
	"bytes"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/imageflight/imageflight/pkg/imagerow/internal/jpegenc"
)

// TestWriteBenchFiles writes the peer-comparison files of
// test/bench/decoders.sh into $IMAGEFLIGHT_BENCH_OUT: one 1920x1080
// photo-like frame as baseline and progressive JPEG (q90, 4:2:0), PNG and
// lossy/lossless WebP. Skipped unless the variable is set.
func TestWriteBenchFiles(t *testing.T) {
	dir := os.Getenv("IMAGEFLIGHT_BENCH_OUT")
	if dir == "" {
		t.Skip("IMAGEFLIGHT_BENCH_OUT not set")
	}
	m := photo(1920, 1080)
	rgb := make([]byte, 0, 1920*1080*3)
	for i := 0; i < len(m.Pix); i += 4 {
		rgb = append(rgb, m.Pix[i:i+3]...)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, prog := range []bool{false, true} {
		b, err := jpegenc.Encode(rgb, 1920, 1080, jpegenc.YCbCr, jpegenc.Options{Quality: 90, HSamp: 2, VSamp: 2, Progressive: prog})
		if err != nil {
			t.Fatal(err)
		}
		write(map[bool]string{false: "photo-baseline.jpg", true: "photo-progressive.jpg"}[prog], b)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	write("photo.png", b.Bytes())
	if _, err := exec.LookPath("cwebp"); err == nil {
		in := filepath.Join(dir, "photo.png")
		for name, args := range map[string][]string{"photo-lossy.webp": {"-q", "80"}, "photo-lossless.webp": {"-lossless", "-z", "1"}} {
			if out, err := exec.Command("cwebp", append(append([]string{"-quiet"}, args...), in, "-o", filepath.Join(dir, name))...).CombinedOutput(); err != nil {
				t.Fatalf("cwebp: %v %s", err, out)
			}
		}
	}
}
