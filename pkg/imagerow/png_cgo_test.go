//go:build cgo

package imagerow

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/corpus"
)

// pngBothWays decodes data through the libpng path (when eligible) and
// through image/png only.
func pngBothWays(data []byte) (lib, gop Row, libErr, goErr error) {
	lib, libErr = decodePNGWith("x", data, DefaultMaxPixels, true)
	gop, goErr = decodePNGWith("x", data, DefaultMaxPixels, false)
	return
}

// pngEligible reports whether decodePNG would route data to libpng.
func pngEligible(data []byte) bool {
	info, err := scanPNG(data)
	return err == nil && pngLibpng(info) && pngCleanChunks(data)
}

// pngSamples returns the PNG test inputs: the fixtures, the corpus and a
// few larger Go-encoded images of every eligible colour type.
func pngSamples(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	fixtures, err := filepath.Glob(filepath.Join("testdata", "*.png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range fixtures {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out["testdata/"+filepath.Base(p)] = b
	}
	dir := t.TempDir()
	entries, err := corpus.Write(dir, corpus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(e.Rel)))
		if err != nil {
			t.Fatal(err)
		}
		if Sniff(b) == FormatPNG {
			out["corpus/"+e.Rel] = b
		}
	}
	src := photo(97, 61)
	nrgba := image.NewNRGBA(src.Rect)
	copy(nrgba.Pix, src.Pix)
	for i := 3; i < len(nrgba.Pix); i += 4 {
		nrgba.Pix[i] = byte(i * 7)
	}
	g := image.NewGray(src.Rect)
	for i := range g.Pix {
		g.Pix[i] = src.Pix[4*i+1]
	}
	for name, m := range map[string]image.Image{"rgb": src, "rgba": nrgba, "gray": g} {
		for _, lvl := range []png.CompressionLevel{png.NoCompression, png.BestSpeed, png.BestCompression} {
			var b bytes.Buffer
			if err := (&png.Encoder{CompressionLevel: lvl}).Encode(&b, m); err != nil {
				t.Fatal(err)
			}
			out["go/"+name+"/"+string(rune('0'-lvl))] = b.Bytes()
		}
	}
	return out
}

// TestPNGLibpngMatchesGo decodes every sample through both paths: eligible
// files must give identical rows, others must not be routed at all.
func TestPNGLibpngMatchesGo(t *testing.T) {
	routed := map[int]int{}
	for name, data := range pngSamples(t) {
		lib, gop, libErr, goErr := pngBothWays(data)
		if (libErr != nil) != (goErr != nil) {
			t.Errorf("%s: libpng err %v, Go err %v", name, libErr, goErr)
			continue
		}
		if goErr != nil {
			continue
		}
		if lib.Height != gop.Height || lib.Width != gop.Width || lib.NChannels != gop.NChannels || lib.Mode != gop.Mode || !bytes.Equal(lib.Data, gop.Data) {
			t.Errorf("%s: libpng row %dx%dx%d differs from Go row %dx%dx%d", name, lib.Width, lib.Height, lib.NChannels, gop.Width, gop.Height, gop.NChannels)
		}
		info, _ := scanPNG(data)
		if pngEligible(data) {
			routed[info.ctype]++
		} else if pngLibpng(info) && info.trns == nil && !strings.Contains(name, "interlaced") {
			t.Logf("%s: 8-bit gray/RGB/RGBA not routed", name)
		}
	}
	for _, ct := range []int{pngGray, pngRGB, pngRGBA} {
		if routed[ct] == 0 {
			t.Errorf("no sample of colour type %d went through libpng", ct)
		}
	}
	t.Logf("routed through libpng by colour type: %v", routed)
}

// rawChunk is one PNG chunk; joinPNG recomputes the CRCs.
type rawChunk struct {
	typ  string
	body []byte
}

// splitPNG splits a PNG into its chunks.
func splitPNG(data []byte) []rawChunk {
	var cs []rawChunk
	p := data[len(pngSignature):]
	for len(p) >= 12 {
		n := binary.BigEndian.Uint32(p)
		cs = append(cs, rawChunk{string(p[4:8]), append([]byte(nil), p[8:8+n]...)})
		p = p[12+n:]
	}
	return cs
}

func joinPNG(cs []rawChunk) []byte {
	var b bytes.Buffer
	b.Write(pngSignature)
	for _, c := range cs {
		pngChunk(&b, c.typ, c.body)
	}
	return b.Bytes()
}

// mutations derives damaged variants of an eligible PNG.
func pngMutations(data []byte) map[string][]byte {
	out := map[string][]byte{}
	step := max(1, len(data)/97)
	for cut := 0; cut < len(data); cut += step {
		out["cut"+strconv.Itoa(cut)] = data[:cut]
	}
	for cut := len(data) - 16; cut < len(data); cut++ {
		out["cut"+strconv.Itoa(cut)] = data[:cut]
	}
	cs := splitPNG(data)
	idat := -1
	for i, c := range cs {
		if c.typ == "IDAT" {
			idat = i
			break
		}
	}
	with := func(f func(cs []rawChunk) []rawChunk) []byte {
		cp := make([]rawChunk, len(cs))
		for i, c := range cs {
			cp[i] = rawChunk{c.typ, append([]byte(nil), c.body...)}
		}
		return joinPNG(f(cp))
	}
	body := cs[idat].body
	for _, off := range []int{0, 1, 2, 3, len(body) / 3, len(body) / 2, len(body) - 5, len(body) - 4, len(body) - 1} {
		for _, bit := range []byte{0x01, 0x80} {
			// Bit flips with the CRC fixed, so the zlib/filter layer sees them.
			out["flip"+strconv.Itoa(off)+"/"+strconv.Itoa(int(bit))] = with(func(cs []rawChunk) []rawChunk {
				cs[idat].body[off] ^= bit
				return cs
			})
		}
		// Same flip, stale CRC.
		raw := append([]byte(nil), data...)
		raw[len(pngSignature)+chunkOffset(cs, idat)+8+off] ^= 0x10
		out["crc"+strconv.Itoa(off)] = raw
	}
	// Bad CRC on IEND and on IHDR.
	raw := append([]byte(nil), data...)
	raw[len(raw)-1] ^= 1
	out["iend-crc"] = raw
	raw = append([]byte(nil), data...)
	raw[len(pngSignature)+8+13] ^= 1
	out["ihdr-crc"] = raw
	// Trailing garbage inside the IDAT after the zlib stream.
	out["idat-tail"] = with(func(cs []rawChunk) []rawChunk {
		cs[idat].body = append(cs[idat].body, 0, 0, 0)
		return cs
	})
	// IDAT split in two, and an empty trailing IDAT (both valid).
	out["idat-split"] = with(func(cs []rawChunk) []rawChunk {
		b := cs[idat].body
		h := len(b) / 2
		return append(cs[:idat:idat], append([]rawChunk{{"IDAT", b[:h]}, {"IDAT", b[h:]}}, cs[idat+1:]...)...)
	})
	out["idat-empty-tail"] = with(func(cs []rawChunk) []rawChunk {
		return append(cs[:idat+1:idat+1], append([]rawChunk{{"IDAT", nil}}, cs[idat+1:]...)...)
	})
	// Missing IEND, missing IDAT data, extra and missing pixel rows.
	out["no-iend"] = with(func(cs []rawChunk) []rawChunk { return cs[:len(cs)-1] })
	out["ancillary"] = with(func(cs []rawChunk) []rawChunk {
		return append(cs[:idat:idat], append([]rawChunk{{"tEXt", []byte("k\x00v")}, cs[idat], {"zzZz", []byte{1}}}, cs[idat+1:]...)...)
	})
	info, _ := scanPNG(data)
	rowLen := info.width*info.channelsRaw() + 1
	raw2, err := zlibInflate(body)
	if err == nil && len(raw2) > 0 {
		for name, n := range map[string]int{"rows-short": len(raw2) - rowLen, "rows-extra": len(raw2) + rowLen, "byte-short": len(raw2) - 1, "byte-extra": len(raw2) + 1} {
			if n < 0 {
				continue
			}
			pix := make([]byte, n)
			copy(pix, raw2)
			out[name] = with(func(cs []rawChunk) []rawChunk {
				cs[idat].body = zlibDeflate(pix)
				return cs
			})
		}
		bad := append([]byte(nil), raw2...)
		bad[0] = 9 // invalid filter type
		out["bad-filter"] = with(func(cs []rawChunk) []rawChunk {
			cs[idat].body = zlibDeflate(bad)
			return cs
		})
	}
	return out
}

func (info pngInfo) channelsRaw() int {
	return map[int]int{pngGray: 1, pngRGB: 3, pngRGBA: 4}[info.ctype]
}

func chunkOffset(cs []rawChunk, i int) int {
	off := 0
	for _, c := range cs[:i] {
		off += 12 + len(c.body)
	}
	return off
}

func zlibInflate(b []byte) ([]byte, error) {
	r, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	_, err = out.ReadFrom(r)
	return out.Bytes(), err
}

func zlibDeflate(b []byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(b)
	w.Close()
	return z.Bytes()
}

// TestPNGLibpngCorrupt damages eligible PNGs in many ways: libpng must
// error exactly when image/png does, and agree on the pixels otherwise.
func TestPNGLibpngCorrupt(t *testing.T) {
	n := 0
	for name, data := range pngSamples(t) {
		if !pngEligible(data) || len(data) > 1<<16 {
			continue
		}
		for mname, m := range pngMutations(data) {
			n++
			lib, gop, libErr, goErr := pngBothWays(m)
			switch {
			case goErr != nil && libErr == nil:
				t.Errorf("%s/%s: Go errors (%v), libpng returns an image", name, mname, goErr)
			case goErr == nil && libErr != nil && mname == "idat-tail":
				// Known, deliberate: bytes after the end of the zlib stream
				// inside the last IDAT are an error for libpng; image/png
				// notices them only past its bufio read-ahead.
				t.Logf("%s/%s: libpng stricter than Go: %v", name, mname, libErr)
			case goErr == nil && libErr != nil:
				t.Errorf("%s/%s: libpng errors (%v), Go does not", name, mname, libErr)
			case goErr == nil && !bytes.Equal(lib.Data, gop.Data):
				t.Errorf("%s/%s: pixels differ", name, mname)
			}
		}
	}
	if n == 0 {
		t.Fatal("no eligible sample")
	}
	t.Logf("%d damaged files", n)
}

// TestPNGLibpngThroughDecode checks the public entry point: a truncated
// eligible file is an invalid row, never a partial image.
func TestPNGLibpngThroughDecode(t *testing.T) {
	var b bytes.Buffer
	if err := png.Encode(&b, photo(64, 48)); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	if !pngEligible(data) {
		t.Fatal("Go-encoded RGB PNG not eligible")
	}
	row, err := Decode("t", data[:len(data)-30], DefaultOptions())
	if err == nil || row.Height != -1 || len(row.Data) != 0 {
		t.Fatalf("truncated file: row %+v, err %v", row, err)
	}
	row, err = Decode("t", data, Options{MaxPixels: 64*48 - 1})
	if err == nil || row.Height != -1 {
		t.Fatalf("budget not enforced: err %v", err)
	}
}

// BenchmarkPNGPaths compares the two PNG paths on the same 1080p files.
func BenchmarkPNGPaths(b *testing.B) {
	src := photo(1920, 1080)
	nrgba := image.NewNRGBA(src.Rect)
	copy(nrgba.Pix, src.Pix)
	for i := 3; i < len(nrgba.Pix); i += 4 {
		nrgba.Pix[i] = byte(i / 4 % 251)
	}
	for _, c := range []struct {
		name string
		m    image.Image
	}{{"RGB", src}, {"RGBA", nrgba}} {
		var buf bytes.Buffer
		if err := png.Encode(&buf, c.m); err != nil {
			b.Fatal(err)
		}
		data := buf.Bytes()
		for _, lib := range []bool{false, true} {
			name := c.name + "/go"
			if lib {
				name = c.name + "/libpng"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for i := 0; i < b.N; i++ {
					if _, err := decodePNGWith("b", data, DefaultMaxPixels, lib); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(1920*1080*float64(b.N)/b.Elapsed().Seconds()/1e6, "MP/s")
			})
		}
	}
}
