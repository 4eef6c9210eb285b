package imagerow

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestDecodeContextCancelled: a cancelled context gives the invalid row
// and an error that errors.Is(context.Canceled), for every format.
func TestDecodeContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	files, _ := filepath.Glob("testdata/*")
	for _, f := range files {
		if strings.HasSuffix(f, ".bgr") {
			continue
		}
		row, err := DecodeContext(ctx, f, readFixture(t, filepath.Base(f)), DefaultOptions())
		if !errors.Is(err, context.Canceled) || row.Valid() || !strings.Contains(err.Error(), f) {
			t.Errorf("%s: err %v, row valid %v", f, err, row.Valid())
		}
	}
}

// TestDecodersPollCancel calls each decoder below DecodeContext's own
// up-front check with a context that is already done, so the only way to
// stop is the decoder's own polling: libjpeg's progress monitor, the PNG
// row loop and libwebp's incremental loop in C (the flag is set before C
// starts), the failing reader for the Go decoders.
func TestDecodersPollCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	type dec func(context.Context, string, []byte, Options) (Row, error)
	for _, c := range []struct {
		file string
		f    dec
	}{
		{"jpeg_420.jpg", decodeJPEG},
		{"jpeg_progressive.jpg", decodeJPEG},
		{"png_rgb8.png", decodePNG},
		{"png_pal8_trns.png", decodePNG},
		{"png_rgba8_interlaced.png", decodePNG},
		{"webp_lossy.webp", decodeWebP},
		{"webp_lossless_rgba.webp", decodeWebP},
		{"gif_trans.gif", decodeGIF},
	} {
		_, err := c.f(ctx, c.file, readFixture(t, c.file), DefaultOptions())
		// image/gif formats its reader's error with %v; DecodeContext
		// re-wraps ctx.Err(), so only the message is checked here.
		if !errors.Is(err, context.Canceled) && !strings.Contains(fmt.Sprint(err), context.Canceled.Error()) {
			t.Errorf("%s: err %v, want context.Canceled", c.file, err)
		}
	}
}

// TestAlloc: Options.Alloc supplies the row buffer (no copy), for every
// format, and the pixels are those of a default decode.
func TestAlloc(t *testing.T) {
	files, _ := filepath.Glob("testdata/*")
	for _, f := range files {
		if strings.HasSuffix(f, ".bgr") {
			continue
		}
		data := readFixture(t, filepath.Base(f))
		want, err := Decode(f, data, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		var buf []byte
		opts := DefaultOptions()
		opts.Alloc = func(n int) []byte {
			buf = make([]byte, n, n+64)
			for i := range buf {
				buf[i] = 0xA5 // not zero: decoders must write every byte
			}
			return buf
		}
		got, err := Decode(f, data, opts)
		if err != nil || string(got.Data) != string(want.Data) {
			t.Fatalf("%s: err %v, pixels differ %v", f, err, string(got.Data) != string(want.Data))
		}
		if len(buf) == 0 || &got.Data[0] != &buf[0] {
			t.Errorf("%s: row does not use the Alloc buffer", f)
		}
	}
}
