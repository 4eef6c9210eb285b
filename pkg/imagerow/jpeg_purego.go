//go:build !cgo

package imagerow

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"image/jpeg"
)

// JPEGDecoder names the JPEG implementation compiled in.
const JPEGDecoder = "image/jpeg"

// decodeJPEG is the pure-Go fallback for CGO_ENABLED=0 builds. image/jpeg
// uses a different IDCT and nearest-neighbour chroma upsampling, so pixels
// differ from Spark's by a few levels (PSNR well above 30 dB); shapes and
// channel choice are the same as the libjpeg path. It is also about 4x
// slower, which is why the cgo build is the one to deploy.
func decodeJPEG(ctx context.Context, origin string, data []byte, opts Options) (Row, error) {
	if err := checkConfig(jpeg.DecodeConfig, data, opts.maxPixels()); err != nil {
		return Row{}, err
	}
	// image/jpeg has no scan limit or progress hook; count the scans
	// first (a walk over the markers, far cheaper than one scan's decode).
	if n := jpegScans(data, MaxJPEGScans+1); n > MaxJPEGScans {
		return Row{}, fmt.Errorf("%w: jpeg has more than %d scans", ErrDecodeLimit, MaxJPEGScans)
	}
	img, err := jpeg.Decode(newCtxReader(ctx, data))
	if err != nil {
		return Row{}, fmt.Errorf("decode jpeg: %w", err)
	}
	// Gray stays 1 channel; YCbCr, CMYK and Adobe RGB become BGR.
	nch := 3
	if channelsForImage(img) == 1 {
		nch = 1
	}
	return makeRow(origin, img, nch, opts), nil
}

// jpegHeader reads a JPEG's size and Spark channel count with image/jpeg's
// DecodeConfig: one component is gray, three (YCbCr, RGB) or four (CMYK,
// YCCK) become BGR — decodeJPEG's rule.
func jpegHeader(data []byte) (h, w, nch int, err error) {
	c, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("decode header: %w", err)
	}
	nch = 3
	if c.ColorModel == color.GrayModel {
		nch = 1
	}
	return c.Height, c.Width, nch, nil
}
