package imagerow

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// headerFiles are the fixtures and Go's PngSuite (the files a full decode
// accepts: PngSuite's x* files are corrupt).
func headerFiles(t *testing.T) map[string][]byte {
	files := map[string][]byte{}
	names, _ := filepath.Glob("testdata/*")
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		suite, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "src/image/png/testdata/pngsuite/[^x]*.png"))
		names = append(names, suite...)
	}
	for _, n := range names {
		if strings.HasSuffix(n, ".bgr") {
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(n)] = b
	}
	return files
}

// TestHeaderMatchesDecode: for every fixture, the header-only row is the
// full decode's row without its pixels.
func TestHeaderMatchesDecode(t *testing.T) {
	for name, data := range headerFiles(t) {
		full, ferr := Decode(name, data, DefaultOptions())
		head, herr := DecodeHeader(context.Background(), name, data, DefaultOptions())
		if (ferr == nil) != (herr == nil) {
			t.Errorf("%s: decode error %v, header error %v", name, ferr, herr)
			continue
		}
		full.Data = []byte{}
		if head.Origin != full.Origin || head.Height != full.Height || head.Width != full.Width ||
			head.NChannels != full.NChannels || head.Mode != full.Mode || head.Data == nil || len(head.Data) != 0 {
			t.Errorf("%s: header row %+v, decoded row %+v", name, head, full)
		}
	}
}

func TestHeaderInvalid(t *testing.T) {
	jpg := readFixture(t, "jpeg_420.jpg")
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrUnknownFormat},
		{"text", []byte("README: not an image"), ErrUnknownFormat},
		{"PNG bomb", bombPNG(100000, 100000), ErrTooLarge},
		{"JPEG bomb", withSOFSize(t, jpg, 65000, 65000), ErrTooLarge},
		{"JPEG scan flood", manyScans(t, readFixture(t, "jpeg_progressive.jpg"), MaxJPEGScans+5), ErrDecodeLimit},
		{"JPEG without frame", jpg[:20], nil},
		{"PNG without IDAT", readFixture(t, "png_rgb8.png")[:40], nil},
	}
	for _, tc := range cases {
		row, err := DecodeHeader(context.Background(), "o", tc.data, DefaultOptions())
		if err == nil || row.Valid() || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: row %+v, error %v; want an invalid row (%v)", tc.name, row, err, tc.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "o: ") {
			t.Errorf("%s: error %q does not start with the origin", tc.name, err)
		}
	}
}

// TestHeaderCorruptBody is the documented deviation: a valid header over
// a corrupt body is a valid header-only row, an invalid decoded row.
func TestHeaderCorruptBody(t *testing.T) {
	for _, name := range []string{"jpeg_420.jpg", "png_rgb8.png"} {
		cut := readFixture(t, name)
		if i := bytes.Index(cut, []byte{0xFF, 0xDA}); i > 0 { // JPEG: end 10 bytes into the scan
			cut = cut[:i+2+int(binary.BigEndian.Uint16(cut[i+2:]))+10]
		}
		if i := bytes.Index(cut, []byte("IDAT")); i > 0 && strings.HasSuffix(name, ".png") { // PNG: scramble the pixels
			for j := i + 4; j < i+4+int(binary.BigEndian.Uint32(cut[i-4:])); j++ {
				cut[j] ^= 0x5A
			}
		}
		if _, err := Decode(name, cut, DefaultOptions()); err == nil {
			t.Fatalf("%s: truncated file decoded", name)
		}
		head, err := DecodeHeader(context.Background(), name, cut, DefaultOptions())
		if err != nil || !head.Valid() {
			t.Errorf("%s: truncated body gave %+v, %v; want the header's valid row", name, head, err)
		}
	}
}
