//go:build cgo

package imagerow

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/corpus"
)

// pngBothWays decodes data through the C path (when eligible) and
// through image/png only.
func pngBothWays(data []byte) (lib, gop Row, libErr, goErr error) {
	lib, libErr = decodePNGWith(context.Background(), "x", data, DefaultOptions(), true)
	gop, goErr = decodePNGWith(context.Background(), "x", data, DefaultOptions(), false)
	return
}

// pngEligible reports whether decodePNG would route data to the C path.
func pngEligible(data []byte) bool {
	info, err := scanPNG(data)
	if err != nil {
		return false
	}
	_, ok := pngCleanChunks(data, info)
	return ok
}

// pngKind names a PNG's colour type, depth, tRNS and interlace, e.g.
// "3/8+t" or "6/16i", for the routing report.
func pngKind(data []byte) string {
	info, err := scanPNG(data)
	if err != nil {
		return "?"
	}
	k := strconv.Itoa(info.ctype) + "/" + strconv.Itoa(info.depth)
	if info.trns != nil {
		k += "+t"
	}
	if len(data) > 28 && data[28] == 1 {
		k += "i"
	}
	return k
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
	if goroot, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		suite, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(goroot)), "src/image/png/testdata/pngsuite/*.png"))
		for _, p := range suite {
			if b, err := os.ReadFile(p); err == nil {
				out["pngsuite/"+filepath.Base(p)] = b
			}
		}
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
	pal := image.NewPaletted(src.Rect, palette.Plan9[:200])
	draw.Draw(pal, pal.Rect, src, image.Point{}, draw.Src)
	palT := image.NewPaletted(src.Rect, append(color.Palette{color.NRGBA{1, 2, 3, 0}, color.NRGBA{200, 100, 50, 128}}, palette.Plan9[:60]...))
	draw.Draw(palT, palT.Rect, src, image.Point{}, draw.Src)
	for i := 0; i < len(palT.Pix); i += 7 {
		palT.Pix[i] = byte(i % 2)
	}
	rgba64 := image.NewNRGBA64(src.Rect)
	g16 := image.NewGray16(src.Rect)
	for i := range g16.Pix {
		g16.Pix[i] = byte(i*131) ^ src.Pix[i%len(src.Pix)]
		rgba64.Pix[i] = byte(i * 7)
	}
	for i := len(g16.Pix); i < len(rgba64.Pix); i++ {
		rgba64.Pix[i] = src.Pix[i%len(src.Pix)] ^ byte(i)
	}
	for name, m := range map[string]image.Image{"rgb": src, "rgba": nrgba, "gray": g, "pal": pal, "palT": palT, "rgba64": rgba64, "gray16": g16} {
		for _, lvl := range []png.CompressionLevel{png.NoCompression, png.BestSpeed, png.BestCompression} {
			var b bytes.Buffer
			if err := (&png.Encoder{CompressionLevel: lvl}).Encode(&b, m); err != nil {
				t.Fatal(err)
			}
			out["go/"+name+"/"+string(rune('0'-lvl))] = b.Bytes()
		}
	}
	// Every colour type, depth and tRNS kind, interlaced and not, at a size
	// where Adam7 passes and filters matter; random filter bytes.
	for _, k := range []struct{ ctype, depth int }{{0, 1}, {0, 2}, {0, 4}, {0, 8}, {0, 16}, {2, 8}, {2, 16}, {3, 1}, {3, 2}, {3, 4}, {3, 8}, {4, 8}, {4, 16}, {6, 8}, {6, 16}} {
		for _, il := range []bool{false, true} {
			for _, trns := range []bool{false, true} {
				var plte, tr []byte
				spp := map[int]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[k.ctype]
				if k.ctype == pngPalette {
					plte = plte8(min(1<<k.depth, 200))
				}
				if trns {
					switch k.ctype {
					case pngGray:
						tr = []byte{0, 1}
					case pngRGB:
						tr = []byte{0, 0, 0, 0, 0, 0}
					case pngPalette:
						tr = []byte{0, 128, 255, 3}
					default:
						continue
					}
				}
				b := encodePNGf(37, 29, k.depth, k.ctype, il, plte, tr, func(x, y int) []uint16 {
					v := make([]uint16, spp)
					for c := range v {
						v[c] = uint16(sample16(x, y, c)) >> (16 - k.depth)
						if k.ctype == pngPalette {
							v[c] %= uint16(len(plte)/3 + 2) // some indices past PLTE
						}
					}
					if trns && (x+y)%5 == 0 {
						for c := range v {
							v[c] = 0
						}
					}
					return v
				}, true)
				out["gen/"+pngKind(b)] = b
			}
		}
	}
	return out
}

// plte8 is an n-entry PLTE body.
func plte8(n int) []byte {
	b := make([]byte, 3*n)
	for i := range b {
		b[i] = byte(i*53 + 7)
	}
	return b
}

// TestPNGLibpngMatchesGo decodes every sample through both paths: eligible
// files must give identical rows, others must not be routed at all.
func TestPNGLibpngMatchesGo(t *testing.T) {
	routed := map[string]int{}
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
		if pngEligible(data) {
			routed[pngKind(data)]++
		} else if strings.HasPrefix(name, "gen/") || strings.HasPrefix(name, "go/") {
			t.Errorf("%s: clean generated file not routed to C", name)
		}
	}
	// Every kind must have gone through C at least once.
	for _, k := range []string{"0/1", "0/2", "0/4", "0/8", "0/16", "0/4+t", "0/16+t", "2/8", "2/8+t", "2/16+t", "3/1", "3/2", "3/4", "3/8", "3/8+t", "4/8", "4/16", "6/8", "6/16", "0/2i", "3/4+ti", "6/16i", "2/16+ti"} {
		if routed[k] == 0 {
			t.Errorf("no sample of kind %s went through C", k)
		}
	}
	t.Logf("routed through C by kind (type/depth, +t tRNS, i interlaced): %v", routed)
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
	// Trailing garbage inside the IDAT after the zlib stream: image/png
	// rejects it only past its 4 KiB read-ahead, so sizes straddle that.
	for _, n := range []int{3, 100, 4000, 4095, 4096, 4097, 5000, 9000} {
		out["idat-tail"+strconv.Itoa(n)] = with(func(cs []rawChunk) []rawChunk {
			cs[idat].body = append(cs[idat].body, bytes.Repeat([]byte{7}, n)...)
			return cs
		})
	}
	// Garbage IDAT chunks after the one where the stream ends: ignored.
	out["idat-garbage-chunk"] = with(func(cs []rawChunk) []rawChunk {
		return append(cs[:idat+1:idat+1], append([]rawChunk{{"IDAT", bytes.Repeat([]byte{0xAB}, 3000)}}, cs[idat+1:]...)...)
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
	rowLen := (info.width*info.bitsPerPixel()+7)/8 + 1
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

func (info pngInfo) bitsPerPixel() int {
	return info.depth * map[int]int{pngGray: 1, pngRGB: 3, pngPalette: 1, pngGrayAlpha: 2, pngRGBA: 4}[info.ctype]
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
				name = c.name + "/C"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for i := 0; i < b.N; i++ {
					if _, err := decodePNGWith(context.Background(), "b", data, DefaultOptions(), lib); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(1920*1080*float64(b.N)/b.Elapsed().Seconds()/1e6, "MP/s")
			})
		}
	}
}
