//go:build cgo

package imagerow

import (
	"bytes"
	"testing"

	"github.com/imageflight/imageflight/pkg/imagerow/internal/jpegenc"
)

// TestDCScansAtEighth: a progressive JPEG decoded at 1/8 from its DC scans
// alone is byte-identical to the decode of the whole file at 1/8 — colour
// 4:2:0 and 4:4:4, gray, CMYK, sizes that are not multiples of a block — and
// a file cut inside an AC scan is read whole, failing as before.
func TestDCScansAtEighth(t *testing.T) {
	const w, h = 517, 389
	m := photo(w, h)
	var rgb, gray, cmyk []byte
	for i := 0; i < len(m.Pix); i += 4 {
		r, g, b := m.Pix[i], m.Pix[i+1], m.Pix[i+2]
		rgb = append(rgb, r, g, b)
		gray = append(gray, g)
		k := min(255-r, 255-g, 255-b)
		cmyk = append(cmyk, r+k, g+k, b+k, 255-k)
	}
	all := func(byte) bool { return true }
	eighth := Options{Shrink: func(int, int) int { return 8 }}
	decode := func(data []byte, dcOnly bool) (Row, error) {
		defer func(v bool) { dcScansOnly = v }(dcScansOnly)
		dcScansOnly = dcOnly
		return Decode("x.jpg", data, eighth)
	}
	for _, tc := range []struct {
		name string
		pix  []byte
		cs   jpegenc.ColorSpace
		o    jpegenc.Options
	}{
		{"ycbcr420", rgb, jpegenc.YCbCr, jpegenc.Options{Quality: 90, Progressive: true}},
		{"ycbcr444", rgb, jpegenc.YCbCr, jpegenc.Options{Quality: 75, Progressive: true, HSamp: 1, VSamp: 1}},
		{"gray", gray, jpegenc.Gray, jpegenc.Options{Quality: 90, Progressive: true}},
		{"cmyk", cmyk, jpegenc.CMYK, jpegenc.Options{Quality: 90, Progressive: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := jpegenc.Encode(tc.pix, w, h, tc.cs, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			dc, ok := jpegDCScans(data, all)
			if !ok || len(dc) >= len(data)/2 {
				t.Fatalf("DC scans: ok=%v, %d of %d bytes", ok, len(dc), len(data))
			}
			before := dcScanDecodes.Load()
			got, err := decode(data, true)
			if err != nil {
				t.Fatal(err)
			}
			if dcScanDecodes.Load() != before+1 {
				t.Fatal("the decode read every scan")
			}
			want, err := decode(data, false)
			if err != nil {
				t.Fatal(err)
			}
			if got.Height != want.Height || got.Width != want.Width || got.NChannels != want.NChannels ||
				!bytes.Equal(got.Data, want.Data) || got.Height != (h+7)/8 {
				t.Errorf("DC scans: %dx%dx%d, whole file: %dx%dx%d, equal pixels %v",
					got.Height, got.Width, got.NChannels, want.Height, want.Width, want.NChannels, bytes.Equal(got.Data, want.Data))
			}
			cut := data[:len(data)*3/4] // inside the last AC scans: no EOI
			if _, ok := jpegDCScans(cut, all); ok {
				t.Fatal("a cut file passed as whole")
			}
			_, errDC := decode(cut, true)
			_, errWhole := decode(cut, false)
			if errDC == nil || errWhole == nil || errDC.Error() != errWhole.Error() {
				t.Errorf("cut file: %v with DC scans on, %v off; want the same error", errDC, errWhole)
			}
		})
	}
}

// TestDCScansMalformed: streams the walk cannot follow are refused, never misread.
func TestDCScansMalformed(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":          {},
		"not a JPEG":     []byte("GIF89a...."),
		"SOI only":       {0xFF, 0xD8},
		"bad length":     {0xFF, 0xD8, 0xFF, 0xDB, 0xFF, 0xFF, 0x00},
		"bare RST":       {0xFF, 0xD8, 0xFF, 0xD0, 0xFF, 0xD9},
		"short SOS":      {0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x04, 0x01, 0x00, 0xFF, 0xD9},
		"SOS at the end": {0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02},
		"scan, no EOI":   {0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x12, 0x34},
		"garbage after":  {0xFF, 0xD8, 0x12, 0xFF, 0xD9},
	} {
		if _, ok := jpegDCScans(data, func(byte) bool { return true }); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}
