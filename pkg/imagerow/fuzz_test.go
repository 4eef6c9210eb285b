package imagerow

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// slowDecode is how long one fuzz input may take: inputs are small and
// capped at 4 Mi pixels (well under a second to decode), so a decode
// this slow even on a loaded machine is a denial of service (kept as a
// crasher).
const slowDecode = 60 * time.Second

func decodeWithin(t *testing.T, data []byte, opts Options) (Row, error) {
	type result struct {
		row Row
		err error
	}
	done := make(chan result, 1)
	go func() {
		row, err := Decode("fuzz", data, opts)
		done <- result{row, err}
	}()
	select {
	case r := <-done:
		return r.row, r.err
	case <-time.After(slowDecode):
		t.Fatalf("decode of %d bytes took over %s", len(data), slowDecode)
		return Row{}, nil
	}
}

// Fuzz targets of Decode, one per format so each run spends its time on
// one decoder, seeded from testdata and pkg/corpus's fixtures. test/run.sh
// runs each for a bounded time; crashers are kept under testdata/fuzz.

// fuzzDecode seeds f with the fixtures whose names start with one of
// prefixes and checks Decode's contract: no panic, and a valid row's
// pixels match its dimensions.
func fuzzDecode(f *testing.F, prefixes ...string) {
	var seeds []string
	for _, dir := range []string{"testdata", "../corpus/fixtures"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			for _, p := range prefixes {
				if strings.HasPrefix(e.Name(), p) && !strings.HasSuffix(e.Name(), ".bgr") {
					seeds = append(seeds, filepath.Join(dir, e.Name()))
				}
			}
		}
	}
	if len(seeds) == 0 {
		f.Fatalf("no fixtures for %v", prefixes)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// 4 Mi pixels keeps every run's allocations small.
	opts := Options{MaxPixels: 1 << 22}
	// A JPEG is decoded at 1/8 too: DCT scaling, and a progressive file's DC scans alone.
	eighth := Options{MaxPixels: opts.MaxPixels, Shrink: func(int, int) int { return 8 }}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data, opts)
		if Sniff(data) == FormatJPEG {
			checkDecode(t, data, eighth)
		}
	})
}

// checkDecode decodes data and checks Decode's contract.
func checkDecode(t *testing.T, data []byte, opts Options) {
	row, err := decodeWithin(t, data, opts)
	if err != nil {
		if row.Valid() {
			t.Fatalf("error %v with a valid row", err)
		}
		return
	}
	want := int(row.Height) * int(row.Width) * int(row.NChannels)
	if !row.Valid() || len(row.Data) != want || int64(row.Height)*int64(row.Width) > opts.MaxPixels {
		t.Fatalf("row %dx%dx%d with %d bytes", row.Width, row.Height, row.NChannels, len(row.Data))
	}
}

func FuzzDecodeJPEG(f *testing.F) { fuzzDecode(f, "jpeg_", "progressive") }
func FuzzDecodePNG(f *testing.F)  { fuzzDecode(f, "png_") }
func FuzzDecodeGIF(f *testing.F)  { fuzzDecode(f, "gif_") }
func FuzzDecodeBMP(f *testing.F)  { fuzzDecode(f, "bmp_") }
func FuzzDecodeTIFF(f *testing.F) { fuzzDecode(f, "tiff_") }
func FuzzDecodeWebP(f *testing.F) { fuzzDecode(f, "webp_", "lossless", "lossy") }
