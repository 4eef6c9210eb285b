package imagerow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"io"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// DefaultMaxPixels is the pixel budget used when Options.MaxPixels is 0:
// 8192*8192 = 64 Mi pixels, i.e. at most 256 MiB of BGRA output per image
// (plus the decoder's own buffer of similar size). That admits every
// ordinary photo and scan while keeping a worker that decodes one image per
// core well inside a few GiB. Spark's own ceiling (h*w*c < 1e9) is always
// enforced on top of the budget; raise MaxPixels to get closer to it.
const DefaultMaxPixels int64 = 1 << 26

// sparkMaxBytes is Spark's hard limit: ImageSchema.decode asserts
// height*width*nChannels < 1e9.
const sparkMaxBytes int64 = 1_000_000_000

// Options tunes Decode.
type Options struct {
	// MaxPixels is the largest height*width Decode will allocate for. It is
	// checked against the header (DecodeConfig or the format's own header
	// parse) before any pixel buffer exists, so a tiny file claiming
	// 100000x100000 costs nothing. 0 means DefaultMaxPixels.
	MaxPixels int64

	// Alloc, if set, supplies the buffer that becomes Row.Data: it must
	// return a slice of length n (capacity may be larger). The contents
	// need not be zeroed — every decoder writes all n bytes — so a caller
	// can hand out reused or wire memory and skip both the copy and the
	// runtime's zeroing of a fresh allocation. If decoding fails after
	// Alloc was called, the buffer is not referenced by the returned
	// (invalid) row and the caller may reuse it. Row.Data is that buffer or,
	// for WebP files that declare alpha but turn out opaque, a prefix of
	// it. nil means make([]byte, n).
	Alloc func(n int) []byte
	// Shrink, if set, lets a decoder that can scale while decoding
	// (libjpeg-turbo's DCT scaling, JPEG only, cgo builds only) decode an
	// h×w image at 1/Shrink(h, w) of its size: 1, 2, 4 or 8. The pixels
	// then differ from a full decode followed by a resize.
	Shrink func(h, w int) int
}

// shrink is the scale denominator for an h×w image (1: full size).
func (o Options) shrink(h, w int) int {
	if o.Shrink == nil {
		return 1
	}
	switch d := o.Shrink(h, w); d {
	case 2, 4, 8:
		return d
	}
	return 1
}

// alloc returns the n-byte output buffer, from o.Alloc when set.
func (o Options) alloc(n int) []byte {
	if o.Alloc == nil {
		return make([]byte, n)
	}
	b := o.Alloc(n)
	if len(b) != n {
		// A wrong-sized buffer would be a silent out-of-bounds write in the
		// C decoders; fail loudly instead (recovered into an invalid row).
		panic(fmt.Sprintf("imagerow: Options.Alloc(%d) returned %d bytes", n, len(b)))
	}
	return b
}

// AllocsEarly reports whether decoding format calls Options.Alloc as soon
// as the header is parsed (before the pixels are decoded) rather than after
// a full decode. A caller that hands out buffers in file order (a batch
// laid out image after image) can afford to wait for an early Alloc, not
// for a late one.
func AllocsEarly(format string) bool { return earlyAlloc[format] }

// DefaultOptions returns the options workers use unless configured otherwise.
func DefaultOptions() Options { return Options{MaxPixels: DefaultMaxPixels} }

func (o Options) maxPixels() int64 {
	if o.MaxPixels <= 0 {
		return DefaultMaxPixels
	}
	return o.MaxPixels
}

// Format names returned by Sniff.
const (
	FormatJPEG = "jpeg"
	FormatPNG  = "png"
	FormatGIF  = "gif"
	FormatBMP  = "bmp"
	FormatTIFF = "tiff"
	FormatWebP = "webp"
)

// ErrUnknownFormat is wrapped by Decode's error for bytes that are not one of
// the supported image formats (text files, empty files, ...).
var ErrUnknownFormat = errors.New("imagerow: unknown image format")

// ErrDecodeLimit is wrapped by Decode's error when a file is small but would
// cost far more CPU than its pixels justify: a progressive JPEG with more
// than MaxJPEGScans scans, or a PNG with far more IDAT data than its pixels
// can need. Such files are hostile or broken; they become invalid rows.
var ErrDecodeLimit = errors.New("imagerow: decode work limit exceeded")

// MaxJPEGScans is the most scans a JPEG may have. A progressive JPEG from
// any encoder has at most a few dozen (libjpeg's default script has 10);
// each scan costs a pass over every coefficient block, so a few thousand
// repeated scans in a file under 1 MB cost tens of seconds. libjpeg-turbo's
// own tools use the same idea and the same figure (TJPARAM_SCANLIMIT).
const MaxJPEGScans = 500

// ErrTooLarge is wrapped by Decode's error when the header's dimensions exceed
// the pixel budget or Spark's size limit.
var ErrTooLarge = errors.New("imagerow: image too large")

// Sniff names the format of data from its magic bytes, or returns "" when it
// is none we decode. File extensions are never consulted: real data sets are
// full of PNGs named .jpg.
func Sniff(data []byte) string {
	switch {
	case len(data) >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF:
		return FormatJPEG
	case bytes.HasPrefix(data, pngSignature):
		return FormatPNG
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return FormatGIF
	case len(data) >= 2 && data[0] == 'B' && data[1] == 'M':
		return FormatBMP
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		return FormatTIFF
	case len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return FormatWebP
	}
	return ""
}

// Decode is DecodeContext without cancellation.
func Decode(origin string, data []byte, opts Options) (Row, error) {
	return DecodeContext(context.Background(), origin, data, opts)
}

// DecodeContext decodes one encoded image into Spark's row layout. On any failure
// it returns Invalid(origin) and a non-nil error saying why; callers log the
// error and choose between the invalid row and dropping it. Decode never
// panics (third-party decoder panics are recovered) and never allocates a
// pixel buffer larger than the budget in opts. It is safe for concurrent
// use.
//
// Cancelling ctx stops the decode early: the C decoders (JPEG, PNG, WebP in
// cgo builds) poll a flag between scanlines and scans, the Go decoders see
// a failing reader at their next read. The error then wraps ctx.Err(), so
// errors.Is(err, context.Canceled) holds, and the row is Invalid(origin).
func DecodeContext(ctx context.Context, origin string, data []byte, opts Options) (row Row, err error) {
	defer func() {
		if p := recover(); p != nil {
			row = Invalid(origin)
			// No stack: a crafted file can trigger the same panic on every
			// request, and the origin plus value identify it well enough.
			err = fmt.Errorf("%s: imagerow: decoder panic: %v", origin, p)
		}
	}()
	if err := ctx.Err(); err != nil {
		return Invalid(origin), fmt.Errorf("%s: imagerow: %w", origin, err)
	}
	row, err = decode(ctx, origin, data, opts)
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		// Cancelled while a decoder finished, or a Go decoder reported our
		// reader's failure with %v: make the cancellation visible to
		// errors.Is rather than hand back a row nobody waits for.
		if err == nil {
			err = cerr
		} else {
			err = fmt.Errorf("%w: %v", cerr, err)
		}
	}
	if err != nil {
		return Invalid(origin), fmt.Errorf("%s: %w", origin, err)
	}
	return row, nil
}

func decode(ctx context.Context, origin string, data []byte, opts Options) (Row, error) {
	format := Sniff(data)
	if format == "" {
		if len(data) == 0 {
			return Row{}, fmt.Errorf("%w: empty file", ErrUnknownFormat)
		}
		return Row{}, ErrUnknownFormat
	}
	budget := opts.maxPixels()
	var (
		img image.Image
		nch int
		err error
	)
	switch format {
	case FormatJPEG:
		// The JPEG path produces Spark bytes directly (libjpeg writes BGR).
		return decodeJPEG(ctx, origin, data, opts)
	case FormatPNG:
		return decodePNG(ctx, origin, data, opts)
	case FormatWebP:
		return decodeWebP(ctx, origin, data, opts)
	case FormatGIF:
		return decodeGIF(ctx, origin, data, opts)
	case FormatBMP:
		if err = checkConfig(bmp.DecodeConfig, data, budget); err != nil {
			return Row{}, err
		}
		img, err = bmp.Decode(newCtxReader(ctx, data))
	case FormatTIFF:
		if err = checkConfig(tiff.DecodeConfig, data, budget); err != nil {
			return Row{}, err
		}
		img, err = tiff.Decode(newCtxReaderAt(ctx, data))
	}
	if err != nil {
		return Row{}, fmt.Errorf("decode %s: %w", format, err)
	}
	nch = channelsForImage(img)
	if format == FormatTIFF {
		nch = tiffChannels(img, data)
	}
	if err := checkSize(img.Bounds().Dy(), img.Bounds().Dx(), nch, budget); err != nil {
		return Row{}, err
	}
	return makeRow(origin, img, nch, opts), nil
}

// checkConfig reads only the header of data and rejects it if its
// dimensions exceed the budget, before the full decoder allocates anything.
func checkConfig(cfg func(io.Reader) (image.Config, error), data []byte, budget int64) error {
	c, err := cfg(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("decode header: %w", err)
	}
	return checkSize(c.Height, c.Width, 1, budget)
}

// checkSize applies the pixel budget and Spark's h*w*c < 1e9 assertion.
func checkSize(h, w, nch int, budget int64) error {
	if h <= 0 || w <= 0 {
		return fmt.Errorf("bad dimensions %dx%d", w, h)
	}
	px := int64(h) * int64(w)
	if px > budget {
		return fmt.Errorf("%w: %dx%d = %d pixels exceeds the budget of %d", ErrTooLarge, w, h, px, budget)
	}
	if px*int64(nch) >= sparkMaxBytes {
		return fmt.Errorf("%w: %dx%dx%d bytes reaches Spark's 1e9 limit", ErrTooLarge, w, h, nch)
	}
	return nil
}

// decodeGIF decodes the first frame, as Java's ImageIO.read does, with
// the palette rebuilt the way Java's GIFImageReader builds it.
func decodeGIF(ctx context.Context, origin string, data []byte, opts Options) (Row, error) {
	budget := opts.maxPixels()
	if err := checkConfig(gif.DecodeConfig, data, budget); err != nil {
		return Row{}, err
	}
	img, err := gif.Decode(newCtxReader(ctx, data))
	if err != nil {
		return Row{}, fmt.Errorf("decode gif: %w", err)
	}
	p, ok := img.(*image.Paletted)
	if !ok {
		return Row{}, fmt.Errorf("decode gif: unexpected image type %T", img)
	}
	if info, ok := scanGIF(data); ok {
		p.Palette = info.javaPalette()
	}
	nch := channelsForImage(p)
	if err := checkSize(p.Rect.Dy(), p.Rect.Dx(), nch, budget); err != nil {
		return Row{}, err
	}
	return makeRow(origin, p, nch, opts), nil
}

// makeRow converts a decoded image to a Row with nch channels.
func makeRow(origin string, img image.Image, nch int, opts Options) Row {
	b := img.Bounds()
	return Row{
		Origin:    origin,
		Height:    int32(b.Dy()),
		Width:     int32(b.Dx()),
		NChannels: int32(nch),
		Mode:      modeFor(nch),
		Data:      toBytes(img, nch, opts.alloc),
	}
}

// modeFor maps a channel count to the OpenCV type code Spark writes.
func modeFor(nch int) int32 {
	switch nch {
	case 1:
		return ModeCV8UC1
	case 3:
		return ModeCV8UC3
	case 4:
		return ModeCV8UC4
	}
	return ModeUndefined
}
