package imagerow

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/png"
	"testing"
)

// jpegSegments splits a JPEG after SOI into marker segments; an SOS
// segment includes its entropy-coded data.
func jpegSegments(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var segs [][]byte
	i := 2
	for i+2 <= len(b) {
		if b[i] != 0xFF {
			t.Fatalf("lost marker sync at %d", i)
		}
		m := b[i+1]
		if m == 0xD9 {
			return append(segs, b[i:i+2])
		}
		if i+4 > len(b) {
			break
		}
		end := i + 2 + int(binary.BigEndian.Uint16(b[i+2:]))
		if m == 0xDA {
			for end+1 < len(b) && (b[end] != 0xFF || b[end+1] == 0 || b[end+1] >= 0xD0 && b[end+1] <= 0xD7) {
				end++
			}
		}
		segs = append(segs, b[i:end])
		i = end
	}
	t.Fatal("no EOI")
	return nil
}

// manyScans repeats the last successive-approximation refinement scan
// (Ah != 0) of a progressive JPEG n times: a tiny file that makes a
// decoder without a scan limit pass over every block n more times.
func manyScans(t *testing.T, jpg []byte, n int) []byte {
	segs := jpegSegments(t, jpg)
	ref := -1
	for i, s := range segs {
		if s[1] == 0xDA {
			ns := int(s[4])
			if s[4+1+2*ns+2]>>4 != 0 { // Ah: a refinement scan
				ref = i
			}
		}
	}
	if ref < 0 {
		t.Fatal("no refinement scan")
	}
	out := append([]byte{}, jpg[:2]...)
	for i, s := range segs {
		out = append(out, s...)
		if i == ref {
			out = append(out, bytes.Repeat(s, n)...)
		}
	}
	return out
}

// TestJPEGScanLimit: a progressive JPEG with ~5000 scans is refused with
// ErrDecodeLimit (libjpeg-turbo decodes every one of them otherwise, tens
// of seconds at 1080p), while the same file with a few extra scans still
// decodes. Asserted by error kind and scan count, never by time.
func TestJPEGScanLimit(t *testing.T) {
	jpg := readFixture(t, "jpeg_progressive.jpg")
	base := jpegScans(jpg, 1<<20)
	if base < 2 || base > 20 {
		t.Fatalf("fixture has %d scans", base)
	}
	hostile := manyScans(t, jpg, 5000)
	if n := jpegScans(hostile, 1<<20); n != base+5000 || len(hostile) > 1<<20 {
		t.Fatalf("hostile file: %d scans, %d bytes", n, len(hostile))
	}
	row, err := Decode("file:/hostile.jpg", hostile, DefaultOptions())
	if !errors.Is(err, ErrDecodeLimit) || row.Valid() {
		t.Fatalf("5000 scans: err %v, row %dx%d; want ErrDecodeLimit", err, row.Width, row.Height)
	}
	t.Log(err)
	// Under the limit libjpeg decodes (it warns about the repeated
	// refinement and carries on); image/jpeg rejects the repetition itself.
	_, err = Decode("ok.jpg", manyScans(t, jpg, MaxJPEGScans-base-1), DefaultOptions())
	if JPEGDecoder == "libjpeg-turbo" && err != nil || errors.Is(err, ErrDecodeLimit) {
		t.Fatalf("%d scans: %v", MaxJPEGScans-1, err)
	}
}

// pngWithTail encodes a small RGB image, then lets the zlib stream run on:
// tail(w) writes more into the same stream before it is closed.
func pngWithTail(t *testing.T, tail func(w *zlib.Writer)) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, photo(64, 48)); err != nil {
		t.Fatal(err)
	}
	cs := splitChunks(b.Bytes())
	var raw bytes.Buffer
	var idat []byte
	for _, c := range cs {
		if c.typ == "IDAT" {
			idat = append(idat, c.body...)
		}
	}
	r, err := zlib.NewReader(bytes.NewReader(idat))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	tail(zw)
	zw.Close()
	var out bytes.Buffer
	out.Write(pngSignature)
	for _, c := range cs {
		switch c.typ {
		case "IDAT":
			if idat != nil {
				pngChunk(&out, "IDAT", z.Bytes())
				idat = nil
			}
		default:
			pngChunk(&out, c.typ, c.body)
		}
	}
	return out.Bytes()
}

type chunk struct {
	typ  string
	body []byte
}

func splitChunks(data []byte) []chunk {
	var cs []chunk
	p := data[len(pngSignature):]
	for len(p) >= 12 {
		n := binary.BigEndian.Uint32(p)
		cs = append(cs, chunk{string(p[4:8]), p[8 : 8+n]})
		p = p[12+n:]
	}
	return cs
}

// TestPNGTrailingData: zlib data that runs on after the last row — a
// deflate bomb of 256 MiB, or megabytes of empty deflate blocks — must not
// be inflated: the C path stops one byte after the rows, as image/png
// does, and both paths give the same outcome. Asserted by outcome only.
func TestPNGTrailingData(t *testing.T) {
	zeros := make([]byte, 1<<20)
	cases := map[string]struct {
		data    []byte
		wantErr bool
		limit   bool
	}{
		"bomb after rows": {pngWithTail(t, func(w *zlib.Writer) {
			for range 256 {
				w.Write(zeros)
			}
		}), true, false},
		// Each Flush writes an empty stored block: no pixels, only work.
		"empty blocks within limit": {pngWithTail(t, func(w *zlib.Writer) {
			for range 20000 {
				w.Flush()
			}
		}), false, false},
		"empty blocks past limit": {pngWithTail(t, func(w *zlib.Writer) {
			for range 400000 {
				w.Flush()
			}
		}), true, true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if len(c.data) > 3<<20 {
				t.Fatalf("%d bytes: not a small file", len(c.data))
			}
			lib, libErr := decodePNGWith(context.Background(), "t.png", c.data, DefaultOptions(), true)
			gop, goErr := decodePNGWith(context.Background(), "t.png", c.data, DefaultOptions(), false)
			if (libErr != nil) != c.wantErr || (goErr != nil) != c.wantErr {
				t.Fatalf("C err %v, Go err %v; want error %v", libErr, goErr, c.wantErr)
			}
			if c.limit != errors.Is(libErr, ErrDecodeLimit) || c.limit != errors.Is(goErr, ErrDecodeLimit) {
				t.Fatalf("ErrDecodeLimit: C %v, Go %v; want %v", libErr, goErr, c.limit)
			}
			if !bytes.Equal(lib.Data, gop.Data) {
				t.Fatal("C and Go pixels differ")
			}
			t.Logf("%d bytes: C %v, Go %v", len(c.data), libErr, goErr)
		})
	}
}

// TestPNGJunkIDATChunks: megabytes of IDAT chunks after the stream's end
// exceed the IDAT limit; a little is ignored by both paths.
func TestPNGJunkIDATChunks(t *testing.T) {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 40, 30))); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1000, 4 << 20} {
		var out bytes.Buffer
		out.Write(pngSignature)
		for _, c := range splitChunks(b.Bytes()) {
			if c.typ == "IEND" {
				pngChunk(&out, "IDAT", bytes.Repeat([]byte{0x55}, n))
			}
			pngChunk(&out, c.typ, c.body)
		}
		_, libErr := decodePNGWith(context.Background(), "j.png", out.Bytes(), DefaultOptions(), true)
		_, goErr := decodePNGWith(context.Background(), "j.png", out.Bytes(), DefaultOptions(), false)
		big := n > 1<<20
		if errors.Is(libErr, ErrDecodeLimit) != big || errors.Is(goErr, ErrDecodeLimit) != big || (!big && (libErr != nil || goErr != nil)) {
			t.Fatalf("%d junk bytes: C %v, Go %v", n, libErr, goErr)
		}
	}
}
