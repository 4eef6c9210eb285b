package imagerow

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pngsuiteName matches the PngSuite naming scheme, e.g. basn0g01:
// interlace (n/i), colour type, a letter, bit depth.
var pngsuiteName = regexp.MustCompile(`([ni])([0246]|3)[a-z](\d\d)`)

// TestPngSuite checks every PngSuite file shipped with Go against the
// channel rule derived from its name and whether it has a tRNS chunk —
// an independent restatement of Java's rule, not a call to pngInfo.
func TestPngSuite(t *testing.T) {
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("go env GOROOT: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(goroot)), "src/image/png/testdata/pngsuite/*.png"))
	if len(files) == 0 {
		t.Skip("no PngSuite in GOROOT")
	}
	for _, f := range files {
		base := filepath.Base(f)
		t.Run(base, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			row, err := Decode(base, data, DefaultOptions())
			if strings.HasPrefix(base, "x") {
				if err == nil || row.Valid() {
					t.Fatalf("corrupt file decoded: %+v", row.Height)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			m := pngsuiteName.FindStringSubmatch(base)
			if m == nil {
				t.Fatalf("unparsed name")
			}
			ctype, depth := int(m[2][0]-'0'), int(m[3][0]-'0')*10+int(m[3][1]-'0')
			trns := bytes.Contains(data, []byte("tRNS"))
			want := map[int]int{0: 1, 2: 3, 3: 3, 4: 1, 6: 4}[ctype]
			switch {
			case ctype == 0 && depth < 8 && !trns:
				want = 3
			case (ctype == 2 || ctype == 3) && trns:
				want = 4
			}
			if int(row.NChannels) != want || row.Mode != modeFor(want) {
				t.Fatalf("nChannels=%d mode=%d, want %d (type %d, depth %d, tRNS %v)", row.NChannels, row.Mode, want, ctype, depth, trns)
			}
			if len(row.Data) != int(row.Height)*int(row.Width)*want {
				t.Fatalf("len(data)=%d for %dx%dx%d", len(row.Data), row.Height, row.Width, want)
			}
		})
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bombPNG is a valid PNG signature and IHDR claiming w x h, plus a tiny IDAT.
func bombPNG(w, h uint32) []byte {
	var buf bytes.Buffer
	buf.Write(pngSignature)
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, pngRGB
	pngChunk(&buf, "IHDR", ihdr)
	pngChunk(&buf, "IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	pngChunk(&buf, "IEND", nil)
	return buf.Bytes()
}

// withSOFSize rewrites the dimensions in a JPEG's SOF0/SOF2 marker.
func withSOFSize(t *testing.T, jpg []byte, w, h uint16) []byte {
	b := bytes.Clone(jpg)
	for i := 2; i+9 < len(b); {
		if b[i] != 0xFF {
			t.Fatal("lost marker sync")
		}
		marker, n := b[i+1], int(binary.BigEndian.Uint16(b[i+2:]))
		if marker == 0xC0 || marker == 0xC2 {
			binary.BigEndian.PutUint16(b[i+5:], h)
			binary.BigEndian.PutUint16(b[i+7:], w)
			return b
		}
		i += 2 + n
	}
	t.Fatal("no SOF")
	return nil
}

func TestInvalid(t *testing.T) {
	jpg := readFixture(t, "jpeg_420.jpg")
	pngData := readFixture(t, "png_rgba8.png")
	gifBomb := append([]byte("GIF89a\xff\xff\xff\xff\x00\x00\x00"), 0x3B)
	bmpBomb := encodeBMPv4(1, 1, func(x, y int) [4]byte { return [4]byte{} })
	binary.LittleEndian.PutUint32(bmpBomb[18:], 100000)
	binary.LittleEndian.PutUint32(bmpBomb[22:], 100000)
	cases := []struct {
		name    string
		data    []byte
		opts    Options
		tooBig  bool
		unknown bool
	}{
		{name: "zero-byte", data: nil, unknown: true},
		{name: "text named .png", data: []byte("hello, I am not an image\n"), unknown: true},
		{name: "html", data: []byte("<!doctype html><html></html>"), unknown: true},
		{name: "jpeg SOI only", data: []byte{0xFF, 0xD8, 0xFF}},
		{name: "truncated jpeg", data: jpg[:len(jpg)/2]},
		{name: "jpeg without EOI tail", data: jpg[:len(jpg)-40]},
		{name: "jpeg garbage after SOI", data: append([]byte{0xFF, 0xD8, 0xFF, 0x00}, bytes.Repeat([]byte{0x42}, 100)...)},
		{name: "jpeg bomb", data: withSOFSize(t, jpg, 65000, 65000), tooBig: true},
		{name: "truncated png", data: pngData[:len(pngData)-20]},
		{name: "png signature only", data: pngSignature},
		{name: "png bomb 100000x100000", data: bombPNG(100000, 100000), tooBig: true},
		{name: "png bomb 2^31-1 wide", data: bombPNG(1<<31-1, 1), tooBig: true},
		{name: "png zero width", data: bombPNG(0, 5)},
		{name: "gif bomb", data: gifBomb, tooBig: true},
		{name: "bmp bomb", data: bmpBomb, tooBig: true},
		{name: "truncated gif", data: readFixture(t, "gif_trans.gif")[:30]},
		{name: "truncated tiff", data: readFixture(t, "tiff_rgb.tiff")[:60]},
		{name: "truncated webp", data: readFixture(t, "webp_lossy.webp")[:40]},
		{name: "budget", data: pngData, opts: Options{MaxPixels: 34}, tooBig: true},
		{name: "budget jpeg", data: jpg, opts: Options{MaxPixels: 33*17 - 1}, tooBig: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			row, err := Decode("file:/bad", c.data, c.opts)
			if err == nil {
				t.Fatalf("no error; row %dx%dx%d", row.Height, row.Width, row.NChannels)
			}
			inv := Invalid("file:/bad")
			if row.Origin != inv.Origin || row.Height != -1 || row.Width != -1 || row.NChannels != -1 || row.Mode != -1 || row.Data == nil || len(row.Data) != 0 {
				t.Fatalf("row = %+v, want Invalid", row)
			}
			if c.tooBig != errors.Is(err, ErrTooLarge) {
				t.Fatalf("errors.Is(ErrTooLarge) = %v, want %v (%v)", !c.tooBig, c.tooBig, err)
			}
			if c.unknown != errors.Is(err, ErrUnknownFormat) {
				t.Fatalf("errors.Is(ErrUnknownFormat) wrong: %v", err)
			}
			t.Log(err)
		})
	}
}

// TestBudgetAllows checks the budget boundary is inclusive.
func TestBudgetAllows(t *testing.T) {
	for _, name := range []string{"png_rgba8.png", "jpeg_420.jpg", "gif_trans.gif", "tiff_rgb.tiff", "bmp_pal8.bmp", "webp_lossy.webp"} {
		data := readFixture(t, name)
		px := int64(fw * fh)
		if strings.HasSuffix(name, ".jpg") || strings.HasSuffix(name, ".webp") {
			px = 33 * 17
		}
		if _, err := Decode(name, data, Options{MaxPixels: px}); err != nil {
			t.Errorf("%s at exact budget: %v", name, err)
		}
	}
}

// TestMutations flips random bytes and cuts every fixture at random
// points: whatever happens, Decode must return (valid row, nil) or
// (Invalid, error) — never panic, never a malformed row.
func TestMutations(t *testing.T) {
	files, _ := filepath.Glob("testdata/*")
	rng := rand.New(rand.NewPCG(1, 2))
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".bgr") {
			continue
		}
		orig, _ := os.ReadFile(f)
		for i := 0; i < 60; i++ {
			b := bytes.Clone(orig)
			if i%3 == 0 {
				b = b[:rng.IntN(len(b))]
			} else {
				for k := 0; k < 1+rng.IntN(4); k++ {
					b[8+rng.IntN(len(b)-8)] = byte(rng.Uint32())
				}
			}
			checkRow(t, f, b)
			n++
		}
	}
	t.Logf("%d mutated inputs", n)
}

func checkRow(t *testing.T, name string, b []byte) {
	t.Helper()
	row, err := Decode(name, b, DefaultOptions())
	if err != nil && strings.Contains(err.Error(), "decoder panic") {
		// Recovered, so harmless in production, but worth knowing about.
		t.Logf("%s: %v", name, err)
	}
	if err != nil {
		if row.Valid() || len(row.Data) != 0 {
			t.Fatalf("%s: error %v with row %dx%d", name, err, row.Height, row.Width)
		}
		return
	}
	if len(row.Data) != int(row.Height)*int(row.Width)*int(row.NChannels) || row.Mode != modeFor(int(row.NChannels)) {
		t.Fatalf("%s: malformed row %dx%dx%d mode %d len %d", name, row.Height, row.Width, row.NChannels, row.Mode, len(row.Data))
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	for _, p := range files {
		if !strings.HasSuffix(p, ".bgr") {
			b, _ := os.ReadFile(p)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkRow(t, "fuzz", b) })
}

// TestConcurrent decodes every fixture from several goroutines at once
// (run with -race): Decode keeps no shared state.
func TestConcurrent(t *testing.T) {
	files, _ := filepath.Glob("testdata/*")
	type res struct {
		row Row
		err error
	}
	want := map[string]res{}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		r, err := Decode(f, b, DefaultOptions())
		want[f] = res{r, err}
	}
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for _, f := range files {
				b, _ := os.ReadFile(f)
				r, err := Decode(f, b, DefaultOptions())
				if (err == nil) != (want[f].err == nil) || !bytes.Equal(r.Data, want[f].row.Data) {
					done <- errors.New(f + ": result differs under concurrency")
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
