//go:build cgo

package imagerow

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// dwebpBGR decodes file with libwebp's own dwebp tool (PAM: RGBA) and
// returns Spark's bytes for nch channels.
func dwebpBGR(t *testing.T, file string, nch int) []byte {
	t.Helper()
	out, err := exec.Command("dwebp", "-quiet", "-pam", "-o", "-", file).Output()
	if err != nil {
		t.Fatalf("dwebp %s: %v", file, err)
	}
	// PAM header: P7 ... ENDHDR\n, then RGBA.
	i := bytes.Index(out, []byte("ENDHDR\n"))
	if i < 0 {
		t.Fatal("dwebp: no PAM header")
	}
	rgba := out[i+7:]
	bgr := make([]byte, 0, len(rgba)/4*nch)
	for p := 0; p+3 < len(rgba); p += 4 {
		bgr = append(bgr, rgba[p+2], rgba[p+1], rgba[p])
		if nch == 4 {
			bgr = append(bgr, rgba[p+3])
		}
	}
	return bgr
}

// TestWebPMatchesDwebp: libwebp through cgo gives exactly dwebp's pixels
// for lossy (opaque and with alpha) and lossless photo-like images, and
// the x/image/webp path's channel choice.
func TestWebPMatchesDwebp(t *testing.T) {
	for _, tool := range []string{"cwebp", "dwebp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian package webp)", tool)
		}
	}
	dir := t.TempDir()
	src := photo(640, 360)
	alpha := image.NewNRGBA(src.Rect)
	copy(alpha.Pix, src.Pix)
	for i := 3; i < len(alpha.Pix); i += 4 {
		alpha.Pix[i] = byte(i / 4 % 640 * 255 / 639)
	}
	for _, c := range []struct {
		name string
		m    image.Image
		args []string
		nch  int
	}{
		{"lossy", src, []string{"-q", "80"}, 3},
		{"lossy-q30-sharp", src, []string{"-q", "30", "-sharp_yuv"}, 3},
		{"lossy-alpha", alpha, []string{"-q", "80"}, 4},
		{"lossless", src, []string{"-lossless"}, 3},
		{"lossless-alpha", alpha, []string{"-lossless", "-exact"}, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := png.Encode(&b, c.m); err != nil {
				t.Fatal(err)
			}
			in, file := filepath.Join(dir, c.name+".png"), filepath.Join(dir, c.name+".webp")
			if err := os.WriteFile(in, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("cwebp", append(append([]string{"-quiet"}, c.args...), in, "-o", file)...).CombinedOutput(); err != nil {
				t.Fatalf("cwebp: %v %s", err, out)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			row, err := Decode(file, data, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			goRow, err := decodeWebPGo(t.Context(), file, data, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if int(row.NChannels) != c.nch || goRow.NChannels != row.NChannels {
				t.Fatalf("nChannels libwebp %d, x/image %d, want %d", row.NChannels, goRow.NChannels, c.nch)
			}
			maxDiff, psnr := compare(row.Data, dwebpBGR(t, file, c.nch))
			_, goPSNR := compare(goRow.Data, dwebpBGR(t, file, c.nch))
			if maxDiff != 0 {
				t.Fatalf("libwebp path vs dwebp: max diff %d, PSNR %.1f dB", maxDiff, psnr)
			}
			t.Logf("vs dwebp: libwebp path PSNR %v dB, x/image/webp %.1f dB", psnr, goPSNR)
			if math.IsInf(goPSNR, 1) != (c.args[0] == "-lossless") {
				t.Errorf("x/image/webp exact = %v", math.IsInf(goPSNR, 1))
			}
		})
	}
}
