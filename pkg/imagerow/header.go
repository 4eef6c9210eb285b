package imagerow

import (
	"context"
	"errors"
	"fmt"
)

// DecodeHeader returns the row DecodeContext would return, without the
// pixels: origin, height, width, nChannels and mode exactly as a full
// decode gives them (Spark's channel rules), and an empty Data. JPEG and
// PNG are read from their headers alone (libjpeg's jpeg_read_header in cgo
// builds, image/jpeg's DecodeConfig otherwise; the PNG chunk list up to
// the first IDAT); other formats (GIF, BMP, TIFF, WebP) are fully decoded
// and their pixels dropped.
//
// A file a full decode would refuse is refused here too wherever its
// header tells: unknown format, bad or oversized dimensions (the pixel
// budget and Spark's 1e9 limit), a JPEG with too many scans, PNG IDAT data
// beyond its limit, a palette PNG without PLTE, an invalid PNG bit depth.
// A file whose header is valid but whose body is corrupt (truncated scan
// data, a bad deflate stream) gives a valid row here although a full
// decode would give an invalid one.
func DecodeHeader(ctx context.Context, origin string, data []byte, opts Options) (row Row, err error) {
	defer func() {
		if p := recover(); p != nil {
			row, err = Invalid(origin), fmt.Errorf("%s: imagerow: decoder panic: %v", origin, p)
		}
	}()
	if err := ctx.Err(); err != nil {
		return Invalid(origin), fmt.Errorf("%s: imagerow: %w", origin, err)
	}
	var h, w, nch int
	switch format := Sniff(data); format {
	case "":
		if len(data) == 0 {
			err = fmt.Errorf("%w: empty file", ErrUnknownFormat)
		} else {
			err = ErrUnknownFormat
		}
	case FormatJPEG:
		h, w, nch, err = jpegHeaderRow(data)
	case FormatPNG:
		h, w, nch, err = pngHeaderRow(data)
	default:
		row, err := DecodeContext(ctx, origin, data, opts)
		row.Data = []byte{}
		return row, err
	}
	if err == nil {
		err = checkSize(h, w, nch, opts.maxPixels())
	}
	if err != nil {
		return Invalid(origin), fmt.Errorf("%s: %w", origin, err)
	}
	return Row{Origin: origin, Height: int32(h), Width: int32(w), NChannels: int32(nch), Mode: modeFor(nch), Data: []byte{}}, nil
}

// jpegHeaderRow reads a JPEG's size and Spark channel count from its
// markers and refuses files over the scan limit, as decoding would.
func jpegHeaderRow(data []byte) (h, w, nch int, err error) {
	if h, w, nch, err = jpegHeader(data); err != nil {
		return 0, 0, 0, err
	}
	if n := jpegScans(data, MaxJPEGScans+1); n > MaxJPEGScans {
		return 0, 0, 0, fmt.Errorf("%w: jpeg has more than %d scans", ErrDecodeLimit, MaxJPEGScans)
	}
	return h, w, nch, nil
}

// pngDepths are the bit depths each PNG colour type allows.
var pngDepths = map[int][]int{pngGray: {1, 2, 4, 8, 16}, pngRGB: {8, 16}, pngPalette: {1, 2, 4, 8}, pngGrayAlpha: {8, 16}, pngRGBA: {8, 16}}

// pngHeaderRow reads a PNG's size and Spark channel count from its chunk
// list (scanPNG, channels) with the checks decodePNG makes before
// inflating.
func pngHeaderRow(data []byte) (h, w, nch int, err error) {
	info, err := scanPNG(data)
	if err != nil {
		return 0, 0, 0, err
	}
	depths, ok := pngDepths[info.ctype]
	okDepth := false
	for _, d := range depths {
		okDepth = okDepth || d == info.depth
	}
	switch {
	case !ok || !okDepth:
		return 0, 0, 0, fmt.Errorf("decode png: png: unsupported feature: bit depth %d, color type %d", info.depth, info.ctype)
	case info.ctype == pngPalette && info.plteEntries == 0:
		return 0, 0, 0, errors.New("decode png: png: invalid format: missing palette")
	}
	if n, limit := pngIDATBytes(data), info.idatLimit(); n > limit {
		return 0, 0, 0, fmt.Errorf("%w: png has %d bytes of IDAT data, more than %d for %dx%d pixels", ErrDecodeLimit, n, limit, info.width, info.height)
	}
	return info.height, info.width, info.channels(), nil
}
